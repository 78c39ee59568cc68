from labeling.models import Demonstration, Prompt
from tests.labeling.conftest import make_prompts


def test_a_near_duplicate_is_flagged_at_submit_and_still_saved(api, alice, read, guideline, carol):
    original = make_prompts(guideline, carol, 1, text="How do green plants make their own food")[0]
    read(alice)
    api.force_authenticate(alice)

    similar = api.post(
        "/api/prompts/",
        {
            "guideline": "assistant",
            "messages": [{"role": "user", "content": "How do green plants make their food 0?"}],
        },
        format="json",
    )
    different = api.post(
        "/api/prompts/",
        {
            "guideline": "assistant",
            "messages": [{"role": "user", "content": "Write a limerick about a tax inspector."}],
        },
        format="json",
    )

    assert similar.status_code == 201
    assert similar.json()["near_duplicate_of"] == original.pk
    assert similar.json()["near_duplicates"][0]["id"] == original.pk
    assert different.json()["near_duplicate_of"] is None
    assert different.json()["near_duplicates"] == []


def test_a_model_draft_is_kept_with_how_much_the_labeler_changed(
    api, alice, read, carol, guideline
):
    api.force_authenticate(carol)
    api.post(
        "/api/prompts/",
        {
            "guideline": "assistant",
            "messages": [{"role": "user", "content": "Capital of France?"}],
            "draft": {"model": "sft-v3", "content": "The capital of France is Lyon."},
        },
        format="json",
    )
    read(alice)
    api.force_authenticate(alice)
    task = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()
    response = api.post(
        "/api/demonstrations/",
        {
            "task": task["id"],
            "content": "The capital of France is Paris.",
            "draft": task["prompt"]["draft"],
        },
        format="json",
    )

    assert task["prompt"]["draft"] == {
        "id": None,  # the prompt's own draft, not a Draft row
        "model": "sft-v3",
        "content": "The capital of France is Lyon.",
    }
    assert response.json()["draft_model"] == "sft-v3"
    assert response.json()["draft_edit_distance"] == 1
    assert Demonstration.objects.get().draft_text == "The capital of France is Lyon."


def test_the_prompt_page_saves_a_multi_turn_prompt(client, alice, read, guideline):
    read(alice)
    client.force_login(alice)

    response = client.post(
        "/work/prompts/new/",
        {
            "guideline": "assistant",
            "system": "Be brief.",
            "turn_role": ["user", "assistant", "user"],
            "turn_content": ["Hi", "Hello!", "What is 2+2?"],
            "category": "chat",
            "language": "en",
            "sensitive_category": "",
        },
    )

    assert response.status_code == 302
    prompt = Prompt.objects.get()
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert prompt.category == "chat"
    assert prompt.author == alice


def test_the_prompt_page_explains_a_bad_conversation_and_keeps_the_text(
    client, alice, read, guideline
):
    read(alice)
    client.force_login(alice)

    response = client.post(
        "/work/prompts/new/",
        {
            "guideline": "assistant",
            "turn_role": ["user", "assistant"],
            "turn_content": ["Hi", "Hello!"],
        },
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "end on a user turn" in html
    assert "Hello!" in html
    assert not Prompt.objects.exists()


def test_the_prompt_page_sends_an_unread_labeler_to_the_guideline(client, alice, guideline):
    client.force_login(alice)

    response = client.post(
        "/work/prompts/new/",
        {
            "guideline": "assistant",
            "turn_role": ["user"],
            "turn_content": ["Hi"],
        },
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/guidelines/assistant/?next=")


def test_reviewers_cannot_open_the_prompt_page(client, bob):
    client.force_login(bob)

    assert client.get("/work/prompts/new/").status_code == 403


def test_the_task_page_records_a_draft_from_the_prompt_not_from_the_form(
    client, alice, read, carol, guideline
):
    from labeling.services import prompt_create

    prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "Capital of Spain?"}],
        draft_model="sft-v3",
        draft_text="Barcelona is the capital.",
    )
    read(alice)
    client.force_login(alice)
    page = client.post("/work/demonstration/next/", follow=True)
    task_path = page.redirect_chain[-1][0]

    client.post(
        task_path,
        {
            "content": "Madrid is the capital.",
            "started_from_draft": "1",
            "idempotency_key": "k1",
            "time_spent_s": "30",
        },
    )

    demonstration = Demonstration.objects.get()
    assert "Start from the model draft" in page.content.decode()
    assert demonstration.draft_model == "sft-v3"
    assert demonstration.draft_text == "Barcelona is the capital."
    assert demonstration.draft_edit_distance == 1
    assert demonstration.time_spent_s == 30
