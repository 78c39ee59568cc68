"""Counting leases on the task row (labeling 0012) keeps what the old rules allowed within
the new ones: the live lease of a crowded task stays, expired ones that lost their slot
lapse, and each person keeps their newest lease of a kind. Runs on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Task
from tests.datasets.test_migration_keeps_data import migrate

BEFORE = [("labeling", "0011_task_priority")]


@pytest.fixture
def before_counts():
    apps = migrate(BEFORE)
    yield apps
    migrate()


def old_rows(apps) -> dict[str, int]:
    User = apps.get_model("auth", "User")
    Guideline = apps.get_model("guidelines", "Guideline")
    Prompt = apps.get_model("labeling", "Prompt")
    OldTask = apps.get_model("labeling", "Task")
    OldAssignment = apps.get_model("labeling", "Assignment")
    alice, erin = User.objects.create(username="alice"), User.objects.create(username="erin")
    guideline = Guideline.objects.create(slug="g", title="G")
    version = apps.get_model("guidelines", "GuidelineVersion").objects.create(
        guideline=guideline, number=1, body="# G", status="published", published_at=timezone.now()
    )
    now = timezone.now()

    def task(n, **extra):
        prompt = Prompt.objects.create(
            guideline=guideline,
            guideline_version=version,
            messages=[{"role": "user", "content": f"{n}?"}],
            content_hash=n,
        )
        return OldTask.objects.create(
            kind="demonstration", guideline=guideline, prompt=prompt, wanted=1, **extra
        )

    def lease(t, user, expires_in_s):
        return OldAssignment.objects.create(
            task=t,
            user=user,
            leased_at=now - timedelta(minutes=10),
            expires_at=now + timedelta(seconds=expires_in_s),
        )

    # Alice's lease expired and Erin took the slot: both were "leased".
    crowded = task("crowded")
    alice_expired = lease(crowded, alice, -60)
    erin_live = lease(crowded, erin, 200)
    # Alice also held an expired lease on a task nobody took, started earlier but kept
    # alive longer (renewing moved the expiry, not the start).
    quiet = task("quiet")
    alice_older = lease(quiet, alice, -30)
    OldAssignment.objects.filter(pk=alice_older.pk).update(leased_at=now - timedelta(hours=1))
    # Bob kept an early lease alive by autosaving, and let a later one expire.
    bob = User.objects.create(username="bob")
    bob_live = lease(task("autosaved"), bob, 200)
    OldAssignment.objects.filter(pk=bob_live.pk).update(leased_at=now - timedelta(hours=2))
    bob_expired = lease(task("abandoned"), bob, -60)
    # A review closed under a lease.
    closed = task("closed", status="closed")
    lease(closed, erin, -1)
    return {
        "crowded": crowded.pk,
        "quiet": quiet.pk,
        "closed": closed.pk,
        "alice_expired": alice_expired.pk,
        "erin_live": erin_live.pk,
        "alice_older": alice_older.pk,
        "bob_live": bob_live.pk,
        "bob_expired": bob_expired.pk,
    }


@pytest.mark.django_db(transaction=True)
def test_leases_are_counted_and_the_surplus_lapses(before_counts):
    ids = old_rows(before_counts)

    migrate()

    status = dict(Assignment.objects.values_list("pk", "status"))
    assert status[ids["erin_live"]] == "leased"
    assert status[ids["alice_expired"]] == "lapsed"  # lost its slot to Erin
    # Her only lease left of the kind once the crowded task kept Erin's: it stays.
    assert status[ids["alice_older"]] == "leased"
    assert (status[ids["bob_live"]], status[ids["bob_expired"]]) == ("leased", "lapsed")
    assert Assignment.objects.get(task_id=ids["closed"]).status == "lapsed"
    counts = dict(Task.objects.values_list("pk", "leased_count"))
    assert counts == {
        ids["crowded"]: 1,
        ids["quiet"]: 1,
        ids["closed"]: 0,
        Assignment.objects.get(pk=ids["bob_live"]).task_id: 1,
        Assignment.objects.get(pk=ids["bob_expired"]).task_id: 0,
    }
    assert set(Assignment.objects.values_list("kind", flat=True)) == {"demonstration"}
