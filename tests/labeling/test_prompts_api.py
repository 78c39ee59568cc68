import pytest

from labeling.models import Prompt, Task

URL = "/api/prompts/"


def post(api, user, payload):
    api.force_authenticate(user)
    return api.post(URL, payload, format="json")


def test_a_labeler_writes_a_multi_turn_prompt_stamped_with_the_version(api, alice, read, guideline):
    read(alice)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Name a prime."},
    ]

    response = post(
        api, alice, {"guideline": "assistant", "messages": messages, "category": "chat"}
    )

    assert response.status_code == 201
    assert response.json()["guideline_version"] == 1
    assert response.json()["messages"] == messages
    assert Task.objects.get().prompt_id == response.json()["id"]


@pytest.mark.parametrize(
    ("messages", "field", "words"),
    [
        ([], "messages", "non-empty"),
        ([{"role": "assistant", "content": "Hi"}], "messages[0]", "Expected the user"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            "messages[1]",
            "Expected the assistant",
        ),
        (
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "messages",
            "end on a user",
        ),
        ([{"role": "system", "content": "s"}], "messages", "system message alone"),
        ([{"role": "user", "content": "   "}], "messages[0]", "empty"),
        ([{"role": "robot", "content": "x"}], "messages[0]", "Role must be"),
        ([{"role": "user", "content": "x", "extra": 1}], "messages[0]", "only 'role'"),
        ([{"role": "user", "content": "x" * 32_001}], "messages[0]", "limit"),
    ],
)
def test_a_malformed_conversation_is_a_400_naming_the_problem(
    api, alice, read, guideline, messages, field, words
):
    read(alice)

    response = post(api, alice, {"guideline": "assistant", "messages": messages})

    assert response.status_code == 400
    assert words in response.json()[field][0]
    assert not Prompt.objects.exists()


def test_an_unknown_guideline_or_category_is_a_400(api, alice, read, guideline):
    read(alice)
    ok = [{"role": "user", "content": "x"}]

    assert post(api, alice, {"guideline": "nope", "messages": ok}).status_code == 400
    assert (
        post(
            api, alice, {"guideline": "assistant", "messages": ok, "category": "poetry"}
        ).status_code
        == 400
    )


def test_an_admin_posts_a_list_all_or_nothing(api, carol, guideline):
    good = {"guideline": "assistant", "messages": [{"role": "user", "content": "ok"}]}
    bad = {"guideline": "assistant", "messages": [{"role": "assistant", "content": "no"}]}

    refused = post(api, carol, [good, good, bad])
    accepted = post(api, carol, [good, good])

    assert refused.status_code == 400
    assert "[2].messages[0]" in refused.json()
    assert accepted.status_code == 201
    assert Prompt.objects.count() == 2


def test_labelers_cannot_post_lists_or_list_prompts(api, alice, read, guideline):
    read(alice)
    good = {"guideline": "assistant", "messages": [{"role": "user", "content": "ok"}]}

    assert post(api, alice, [good]).status_code == 400
    assert api.get(URL).status_code == 403


def test_admins_filter_prompts(api, carol, guideline):
    post(
        api,
        carol,
        [
            {
                "guideline": "assistant",
                "messages": [{"role": "user", "content": "a"}],
                "category": "chat",
            },
            {
                "guideline": "assistant",
                "messages": [{"role": "user", "content": "b"}],
                "category": "rewrite",
            },
        ],
    )

    rows = api.get(URL, {"category": "chat"}).json()["results"]

    assert [r["messages"][0]["content"] for r in rows] == ["a"]
