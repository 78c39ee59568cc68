"""The queue under real concurrency: many threads, each on its own database connection."""

import threading
from collections import Counter

import pytest
from django.db import connection

from labeling.models import Assignment, Task
from labeling.queue import QueueError, task_next_for_user, task_skip
from labeling.services import demonstration_submit
from tests.labeling.conftest import make_prompts, make_users
from tests.labeling.test_lease_slots import slots_as_counted

CLIENTS = 50


def ask_all_at_once(users, kind="demonstration"):
    barrier = threading.Barrier(len(users))
    leases, errors = [], []

    def ask(user):
        try:
            barrier.wait(timeout=30)
            assignment = task_next_for_user(user=user, kind=kind)
            if assignment is not None:
                leases.append((assignment.task_id, user.pk))
        except Exception as exc:  # collected and asserted empty below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return leases, errors


@pytest.mark.parametrize("wanted", [1, 3])
def test_fifty_clients_on_ten_tasks_get_exactly_the_wanted_number_of_leases(
    transactional_db, carol, guideline, wanted
):
    make_prompts(guideline, carol, 10, wanted=wanted)
    users = make_users(CLIENTS, "labeler", guideline)

    leases, errors = ask_all_at_once(users)

    assert errors == []
    assert len(leases) == 10 * wanted
    per_task = Counter(task for task, _ in leases)
    assert len(per_task) == 10
    assert set(per_task.values()) == {wanted}
    assert Assignment.objects.count() == 10 * wanted
    assert slots_as_counted() == []


def test_one_user_asking_many_times_at_once_gets_one_lease(transactional_db, carol, guideline):
    make_prompts(guideline, carol, 5, wanted=3)
    user = make_users(1, "labeler", guideline)[0]

    leases, errors = ask_all_at_once([user] * 8)

    assert errors == []
    assert len(leases) == 8
    assert len(set(leases)) == 1  # every request got the same task back
    assert Assignment.objects.filter(user=user).count() == 1
    assert slots_as_counted() == []


def test_leasing_submitting_skipping_and_expiring_at_once_keep_every_count_exact(
    transactional_db, carol, guideline
):
    make_prompts(guideline, carol, 12, wanted=2)
    users = make_users(24, "labeler", guideline)
    barrier = threading.Barrier(len(users))
    errors = []

    def work(number, user):
        try:
            barrier.wait(timeout=30)
            for round_ in range(6):
                assignment = task_next_for_user(user=user, kind="demonstration")
                if assignment is None:
                    continue
                # Each person ends their lease one of three ways, turn by turn.
                way = (number + round_) % 3
                try:
                    if way == 0:
                        demonstration_submit(
                            author=user, task_id=assignment.task_id, content=f"Reply {number}."
                        )
                    elif way == 1:
                        task_skip(user=user, task_id=assignment.task_id)
                    else:
                        Assignment.objects.filter(pk=assignment.pk).update(
                            expires_at=assignment.leased_at
                        )
                except QueueError:
                    pass  # the lease expired and was taken over meanwhile: allowed
        except Exception as exc:  # collected and asserted empty below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=pair) for pair in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)

    assert errors == []
    assert slots_as_counted() == []
    for task in Task.objects.all():
        held = task.assignments.exclude(status__in=["skipped", "lapsed"]).count()
        assert held <= task.wanted
        assert task.status == ("done" if task.submitted_count == task.wanted else "open")
    assert Assignment.objects.filter(status="submitted").count() > 0
