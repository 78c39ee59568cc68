from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Demonstration, Prompt, Task
from tests.labeling.conftest import make_prompts

NEXT = "/api/tasks/next/"


def take(api, user, kind="demonstration"):
    api.force_authenticate(user)
    return api.post(NEXT, {"kind": kind}, format="json")


def submit(api, task_id, content="A careful answer.", key=None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(
        "/api/demonstrations/",
        {"task": task_id, "content": content, **extra},
        format="json",
        **headers,
    )


def test_a_labeler_takes_a_task_and_submits_a_demonstration(api, alice, read, one_prompt):
    read(alice)

    task = take(api, alice)
    response = submit(api, task.json()["id"], time_spent_s=95)

    assert task.status_code == 200
    assert task.json()["prompt"]["messages"] == one_prompt.messages
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "submitted"
    assert body["guideline_version"] == 1
    assert body["time_spent_s"] == 95
    assert Task.objects.get(kind="demonstration").status == "done"
    assert Task.objects.filter(kind="review", demonstration_id=body["id"]).exists()


def test_nothing_to_do_is_a_204(api, alice, read, guideline):
    read(alice)

    assert take(api, alice).status_code == 204


def test_an_unread_guideline_is_a_403_naming_the_version(api, alice, one_prompt):
    response = take(api, alice)

    assert response.status_code == 403
    assert response.json()["code"] == "guideline_not_acknowledged"
    assert response.json()["version"] == 1


def test_asking_again_returns_the_same_lease(api, alice, read, guideline, carol):
    make_prompts(guideline, carol, 3)
    read(alice)

    first = take(api, alice).json()
    second = take(api, alice).json()

    assert first["id"] == second["id"]
    assert Assignment.objects.filter(user=alice).count() == 1


def test_an_expired_lease_returns_the_task_to_the_pool(api, alice, erin, read, one_prompt):
    read(alice, erin)
    task_id = take(api, alice).json()["id"]
    Assignment.objects.filter(user=alice).update(expires_at=timezone.now() - timedelta(seconds=1))

    taken_by_erin = take(api, erin)
    api.force_authenticate(alice)
    late = submit(api, task_id)

    assert taken_by_erin.json()["id"] == task_id
    assert late.status_code == 409
    assert late.json()["code"] == "lease_expired"
    assert "draft is saved" in late.json()["detail"]
    assert not Demonstration.objects.exists()


def test_a_double_submit_with_one_key_makes_one_record(api, alice, read, one_prompt):
    read(alice)
    task_id = take(api, alice).json()["id"]

    first = submit(api, task_id, key="click-1")
    second = submit(api, task_id, key="click-1")

    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert Demonstration.objects.count() == 1


def test_a_second_submit_without_a_key_is_refused_and_loses_nothing(api, alice, read, one_prompt):
    read(alice)
    task_id = take(api, alice).json()["id"]
    submit(api, task_id, content="first")

    again = submit(api, task_id, content="second")

    assert again.status_code == 409
    assert Demonstration.objects.get().content == "first"


def test_a_task_leased_to_someone_else_cannot_be_submitted(api, alice, erin, read, one_prompt):
    read(alice, erin)
    task_id = take(api, alice).json()["id"]
    api.force_authenticate(erin)

    response = submit(api, task_id)

    assert response.status_code == 409
    assert response.json()["code"] == "lease_not_held"


def test_an_unknown_task_is_a_409_not_a_500(api, alice, read, guideline):
    read(alice)
    api.force_authenticate(alice)

    assert submit(api, 999_999).status_code == 409


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 32_001, "limit"), (["a list"], "text")],
)
def test_bad_content_is_a_400_and_the_lease_is_kept(api, alice, read, one_prompt, content, message):
    read(alice)
    task_id = take(api, alice).json()["id"]

    response = submit(api, task_id, content=content)

    assert response.status_code == 400
    assert message in response.json()["content"][0]
    assert submit(api, task_id).status_code == 201


def test_a_skipped_task_is_never_offered_to_that_user_again(api, alice, erin, read, one_prompt):
    read(alice, erin)
    task_id = take(api, alice).json()["id"]

    skipped = api.post(f"/api/tasks/{task_id}/skip/")

    assert skipped.status_code == 200
    assert take(api, alice).status_code == 204
    assert take(api, erin).json()["id"] == task_id


def test_nobody_answers_their_own_prompt_unless_the_guideline_allows(api, alice, read, guideline):
    read(alice)
    api.force_authenticate(alice)
    api.post(
        "/api/prompts/",
        {"guideline": "assistant", "messages": [{"role": "user", "content": "Mine?"}]},
        format="json",
    )

    refused = take(api, alice)
    guideline.own_prompts_answerable = True
    guideline.save(update_fields=["own_prompts_answerable"])
    api.post(
        "/api/prompts/",
        {"guideline": "assistant", "messages": [{"role": "user", "content": "Mine too?"}]},
        format="json",
    )
    allowed = take(api, alice)

    assert refused.status_code == 204
    assert allowed.status_code == 200
    assert allowed.json()["prompt"]["messages"][0]["content"] == "Mine too?"


def test_the_autosaved_draft_comes_back_with_the_task(api, alice, read, one_prompt):
    read(alice)
    task_id = take(api, alice).json()["id"]

    saved = api.put(f"/api/tasks/{task_id}/draft/", {"content": "half an answer"}, format="json")
    again = take(api, alice)

    assert saved.status_code == 200
    assert again.json()["draft"] == "half an answer"


def test_the_oldest_started_task_comes_first(api, alice, erin, bob, read, guideline, carol):
    prompts = make_prompts(guideline, carol, 3, wanted=2)
    read(alice, erin)
    Task.objects.filter(prompt=prompts[2]).update(started_at=timezone.now() - timedelta(hours=1))

    assert take(api, alice).json()["prompt"]["id"] == prompts[2].pk
    assert take(api, erin).json()["prompt"]["id"] == prompts[2].pk


def test_labelers_who_opted_out_never_get_that_sensitive_category(
    api, alice, read, guideline, carol
):
    read(alice)
    prompt = make_prompts(guideline, carol, 1)[0]
    Prompt.objects.filter(pk=prompt.pk).update(sensitive_category="violence")
    api.force_authenticate(alice)

    api.put("/api/me/opt-outs/", {"sensitive_opt_outs": ["violence"]}, format="json")

    assert take(api, alice).status_code == 204


def test_a_reviewer_cannot_ask_for_demonstration_tasks(api, bob, read, one_prompt):
    read(bob)

    assert take(api, bob).status_code == 403


def test_the_time_on_task_the_page_counted_is_kept_with_the_lease_and_only_grows(
    api, alice, read, one_prompt, client
):
    read(alice)
    task_id = take(api, alice).json()["id"]
    renew = f"/api/tasks/{task_id}/renew/"

    assert api.post(renew, {"time_spent_s": 40}, format="json").json()["time_spent_s"] == 40
    # A second tab that counted less, or a late request, changes nothing.
    assert api.post(renew, {"time_spent_s": 12}, format="json").json()["time_spent_s"] == 40
    assert api.post(renew, format="json").json()["time_spent_s"] == 40  # a plain renew
    api.put(f"/api/tasks/{task_id}/draft/", {"content": "Half", "time_spent_s": 55}, format="json")
    assert api.post(renew, {"time_spent_s": -1}, format="json").status_code == 400
    assert Assignment.objects.get().time_spent_s == 55

    # The page starts its clock from there after a reload.
    client.force_login(alice)
    page = client.get(f"/work/tasks/{task_id}/").content.decode()
    assert 'id="time_spent_s" name="time_spent_s" value="55"' in page
