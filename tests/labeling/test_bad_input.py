"""Bad input gets a clear 4xx, never a 500, and changes nothing."""

import pytest
from django.test import override_settings

from labeling.models import Demonstration, LabelerProfile, Task
from tests.labeling.conftest import make_prompts


@pytest.fixture
def leased(api, alice, read, guideline, carol):
    make_prompts(guideline, carol, 2)
    read(alice)
    api.force_authenticate(alice)
    return api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()["id"]


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/api/demonstrations/", {"task": 0, "content": "x"}),
        ("post", "/api/demonstrations/", {"task": "seven", "content": "x"}),
        ("post", "/api/demonstrations/", {"task": 2**70, "content": "x"}),
        ("post", "/api/demonstrations/", {"content": "x"}),
        ("post", "/api/demonstrations/", {"task": "{task}", "content": "x", "time_spent_s": -5}),
        ("post", "/api/demonstrations/", {"task": "{task}", "content": "x", "draft": "yes please"}),
        ("post", "/api/demonstrations/", {"task": "{task}", "content": "x", "draft": True}),
        ("put", "/api/tasks/{task}/draft/", ["a", "list"]),
        ("put", "/api/me/opt-outs/", {"sensitive_opt_outs": [["nested"]]}),
        ("put", "/api/me/opt-outs/", {"sensitive_opt_outs": ["gore-ish"]}),
        ("put", "/api/me/opt-outs/", ["violence"]),
        ("post", "/api/guidelines/preview/", ["a", "list"]),
        ("post", "/api/tasks/next/", {"kind": "ranking-ish"}),
        ("post", "/api/tasks/next/", ["demonstration"]),
    ],
)
def test_bad_api_input_is_a_400(api, leased, method, path, payload):
    def fill(value):
        return leased if value == "{task}" else value

    if isinstance(payload, dict):
        payload = {k: fill(v) for k, v in payload.items()}
    response = getattr(api, method)(path.format(task=leased), payload, format="json")

    assert response.status_code == 400, response.content
    assert not Demonstration.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks/99999999999999999999/skip/",
        "/api/tasks/99999999999999999999/renew/",
        "/work/tasks/99999999999999999999/",
        "/guidelines/assistant/v/99999999999999999999/",
    ],
)
def test_huge_ids_are_a_404(api, client, alice, leased, path):
    client.force_login(alice)

    response = api.post(path) if path.startswith("/api/") else client.get(path)

    assert response.status_code == 404


@pytest.mark.parametrize(
    "query", ["?from=%C2%B2&to=1", "?from=1", "?from=1&to=99999999999999999999"]
)
def test_a_bad_diff_query_is_a_400_or_a_redirect(api, client, alice, leased, query):
    client.force_login(alice)

    assert api.get(f"/api/guidelines/assistant/diff/{query}").status_code in (400, 404)
    assert client.get(f"/guidelines/assistant/compare/{query}").status_code in (302, 404)


@pytest.mark.parametrize("seconds", ["abc", "1.5", "-3", "99999999999"])
def test_a_bad_time_on_task_from_the_page_is_a_400_that_keeps_the_text(
    client, alice, leased, seconds
):
    client.force_login(alice)

    response = client.post(
        f"/work/tasks/{leased}/", {"content": "My careful answer", "time_spent_s": seconds}
    )

    assert response.status_code == 400
    assert "My careful answer" in response.content.decode()
    assert not Demonstration.objects.exists()


def test_a_bad_opt_out_on_the_page_is_refused_without_a_500(client, alice, leased):
    client.force_login(alice)

    response = client.post("/work/mine/", {"opt_outs": ["bogus"]}, follow=True)

    assert response.status_code == 200
    assert "Unknown categories" in response.content.decode()
    assert not LabelerProfile.objects.exists()


def test_a_forged_draft_is_refused_and_the_prompt_has_none(api, leased):
    forged = api.post(
        "/api/demonstrations/",
        {"task": leased, "content": "Mine.", "draft": {"model": "gpt-x", "content": "made up"}},
        format="json",
    )

    assert forged.status_code == 400
    assert "no model draft" in forged.json()["draft"][0]


def test_a_forged_draft_in_the_form_is_ignored(client, alice, leased):
    client.force_login(alice)

    client.post(
        f"/work/tasks/{leased}/", {"content": "Mine.", "draft_text": "made up", "draft_model": "x"}
    )

    demonstration = Demonstration.objects.get()
    assert demonstration.draft_text == ""
    assert demonstration.draft_edit_distance is None


def test_an_idempotency_key_reused_on_another_task_is_refused(api, alice, leased):
    first = api.post(
        "/api/demonstrations/",
        {"task": leased, "content": "One."},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    second_task = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()[
        "id"
    ]

    reused = api.post(
        "/api/demonstrations/",
        {"task": second_task, "content": "Two."},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert first.status_code == 201
    assert reused.status_code == 409
    assert "new key" in reused.json()["detail"]
    assert Demonstration.objects.count() == 1


def test_raising_the_approvals_setting_does_not_strand_reviews_in_progress(
    api, alice, bob, read, leased
):
    api.post("/api/demonstrations/", {"task": leased, "content": "Answer."}, format="json")
    read(bob)
    api.force_authenticate(bob)
    api.post("/api/tasks/next/", {"kind": "review"}, format="json")
    demo_id = Demonstration.objects.get().pk

    with override_settings(LABELING_APPROVALS_REQUIRED=3):
        api.post(f"/api/demonstrations/{demo_id}/reviews/", {"verdict": "approve"}, format="json")

    assert Demonstration.objects.get().status == "approved"
    assert Task.objects.get(kind="review").status == "done"


def test_a_reviewer_whose_role_was_removed_cannot_submit_a_leased_review(
    client, api, alice, bob, read, leased
):
    from accounts.services import user_set_roles

    api.post("/api/demonstrations/", {"task": leased, "content": "Answer."}, format="json")
    read(bob)
    api.force_authenticate(bob)
    review_task = api.post("/api/tasks/next/", {"kind": "review"}, format="json").json()["id"]
    user_set_roles(user=bob, roles=[])
    client.force_login(bob)

    response = client.post(f"/work/tasks/{review_task}/", {"verdict": "approve"})

    assert response.status_code == 403
    assert Demonstration.objects.get().status == "submitted"
