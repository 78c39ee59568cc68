"""A task's slots, counted on its row: expired leases, lapses, and the one statement that
leases on PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from labeling.models import Assignment, LabelerProfile, Prompt, Task
from labeling.queue import task_next_for_user
from tests.labeling.conftest import make_prompts

NEXT = "/api/tasks/next/"


def take(api, user, **extra):
    api.force_authenticate(user)
    return api.post(NEXT, {"kind": "demonstration", **extra}, format="json")


def expire(user):
    Assignment.objects.filter(user=user, status="leased").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def slots_as_counted():
    """Every task's counters beside the assignments they count; equal when all is well."""
    tasks = Task.objects.annotate(
        leased=Count("assignments", filter=Q(assignments__status="leased")),
        submitted=Count("assignments", filter=Q(assignments__status="submitted")),
    )
    return [
        (t.pk, t.leased_count, t.leased, t.submitted_count, t.submitted)
        for t in tasks
        if (t.leased_count, t.submitted_count) != (t.leased, t.submitted)
    ]


def test_an_expired_lease_nobody_took_over_comes_back_to_its_owner(
    api, alice, read, guideline, carol
):
    make_prompts(guideline, carol, 3)
    read(alice)
    first = take(api, alice).json()["id"]
    api.put(f"/api/tasks/{first}/draft/", {"content": "Half an answer"}, format="json")
    expire(alice)

    again = take(api, alice).json()

    assert again["id"] == first
    assert again["draft"] == "Half an answer"
    assert Task.objects.get(pk=first).leased_count == 1
    assert slots_as_counted() == []


def test_a_slot_taken_over_lapses_the_lease_and_comes_back_with_its_draft_when_freed(
    api, alice, erin, read, guideline, carol
):
    task_id = make_prompts(guideline, carol, 1)[0].tasks.get().pk
    read(alice, erin)
    take(api, alice)
    api.put(f"/api/tasks/{task_id}/draft/", {"content": "Alice's start"}, format="json")
    expire(alice)

    taken_over = take(api, erin)
    after_takeover = Assignment.objects.get(user=alice, task_id=task_id).status
    alice_meanwhile = take(api, alice)
    api.force_authenticate(alice)
    late_save = api.put(f"/api/tasks/{task_id}/draft/", {"content": "More"}, format="json")
    api.force_authenticate(erin)
    api.post(f"/api/tasks/{task_id}/skip/")
    alice_again = take(api, alice).json()

    assert taken_over.json()["id"] == task_id
    assert after_takeover == "lapsed"
    assert alice_meanwhile.status_code == 204
    assert late_save.status_code == 409
    assert "ended" in late_save.json()["detail"]
    assert alice_again["id"] == task_id
    assert alice_again["draft"] == "Alice's start"
    assert Task.objects.get(pk=task_id).leased_count == 1
    assert slots_as_counted() == []


@pytest.fixture
def other(carol):
    """A second published guideline, "other"."""
    other = guideline_create(slug="other", title="Other")
    version_publish(
        version=version_draft_create(guideline=other, body="# Other\n", summary="", author=carol)
    )
    return other


def test_asking_for_another_guidelines_task_gives_the_held_one_back(
    api, alice, read, guideline, other, carol
):
    first = make_prompts(guideline, carol, 1)[0].tasks.get()
    make_prompts(other, carol, 1)
    read(alice)
    acknowledgement_create(user=alice, version=other.versions.get())
    take(api, alice, guideline="assistant")

    with CaptureQueriesContext(connection) as moving:
        moved = take(api, alice, guideline="other").json()

    assert moved["guideline"] == "other"
    # At once: never waiting as if other requests held the free tasks.
    assert len(moving.captured_queries) < 30
    assert Assignment.objects.get(task=first).status == "lapsed"
    assert Assignment.objects.filter(user=alice, status="leased").count() == 1
    assert slots_as_counted() == []


def test_asking_for_a_guideline_with_nothing_free_keeps_the_held_lease(
    api, alice, read, guideline, other, carol
):
    make_prompts(guideline, carol, 1)
    read(alice)
    acknowledgement_create(user=alice, version=other.versions.get())
    held = take(api, alice, guideline="assistant").json()["id"]

    nothing = take(api, alice, guideline="other")

    assert nothing.status_code == 204
    assert Assignment.objects.get(user=alice).status == "leased"
    assert take(api, alice).json()["id"] == held


def test_a_held_lease_of_a_category_opted_out_of_gives_way_to_the_next_task(
    api, alice, read, guideline, carol
):
    sensitive, plain = make_prompts(guideline, carol, 2)
    Prompt.objects.filter(pk=sensitive.pk).update(sensitive_category="violence")
    read(alice)
    assert take(api, alice).json()["id"] == sensitive.tasks.get().pk
    # Opted out by a request that raced the lease: the lease outlived the opt-out.
    LabelerProfile.objects.create(user=alice, sensitive_opt_outs=["violence"])

    moved = take(api, alice)

    assert moved.json()["id"] == plain.tasks.get().pk
    assert Assignment.objects.get(task__prompt=sensitive).status == "lapsed"
    assert slots_as_counted() == []


def test_deleting_a_person_frees_the_slot_their_lease_held(api, alice, erin, read, one_prompt):
    read(alice, erin)
    task_id = take(api, alice).json()["id"]

    alice.delete()

    assert Task.objects.get(pk=task_id).leased_count == 0
    assert take(api, erin).json()["id"] == task_id


def test_closing_a_review_ends_the_other_reviewers_leases_and_frees_their_slots(
    api, alice, bob, erin, read, guideline, carol
):
    make_prompts(guideline, carol, 1)
    read(alice, bob, erin)
    task_id = take(api, alice).json()["id"]
    demonstration = api.post(
        "/api/demonstrations/", {"task": task_id, "content": "Mine."}, format="json"
    ).json()
    Task.objects.filter(kind="review").update(wanted=2)
    for reviewer in (bob, erin):
        api.force_authenticate(reviewer)
        assert api.post(NEXT, {"kind": "review"}, format="json").status_code == 200
    reviews = f"/api/demonstrations/{demonstration['id']}/reviews/"

    api.force_authenticate(bob)
    verdict = api.post(reviews, {"verdict": "reject", "reasons": ["harmful"]}, format="json")
    api.force_authenticate(erin)
    erin_late = api.post(reviews, {"verdict": "approve"}, format="json")

    assert verdict.status_code == 201, verdict.json()
    assert erin_late.status_code == 409
    assert Assignment.objects.get(user=erin, task__kind="review").status == "lapsed"
    assert Task.objects.get(kind="review").leased_count == 0
    assert slots_as_counted() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL")
def test_next_task_is_one_statement_on_postgresql(transactional_db, alice, read, guideline, carol):
    make_prompts(guideline, carol, 3)
    read(alice)

    with CaptureQueriesContext(connection) as leasing:
        leased = task_next_for_user(user=alice, kind="demonstration")
    with CaptureQueriesContext(connection) as renewing:
        renewed = task_next_for_user(user=alice, kind="demonstration")

    assert leased.task.prompt.messages[0]["content"].startswith("Question")
    assert renewed.pk == leased.pk
    assert len(leasing.captured_queries) == 1, leasing.captured_queries
    assert len(renewing.captured_queries) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL")
@pytest.mark.parametrize("prepared", [True, False])
def test_the_lease_statement_is_prepared_unless_turned_off(
    transactional_db, alice, read, guideline, carol, settings, prepared
):
    settings.DATABASE_PREPARED_QUEUE = prepared
    make_prompts(guideline, carol, 3)
    read(alice)
    connection.close()  # a connection of its own: nothing prepared on it yet

    for _ in range(3):
        task_next_for_user(user=alice, kind="demonstration")
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans + custom_plans FROM pg_prepared_statements")
        executions = [row[0] for row in cursor.fetchall()]

    # Planned once and reused, or planned afresh each time and never kept.
    assert executions == ([3] if prepared else [])
