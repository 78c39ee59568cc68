"""The queue under real concurrency: many threads, each on its own database connection."""

import threading
from collections import Counter

import pytest
from django.db import connection

from labeling.models import Assignment
from labeling.queue import task_next_for_user
from tests.labeling.conftest import make_prompts, make_users

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


def test_one_user_asking_many_times_at_once_gets_one_lease(transactional_db, carol, guideline):
    make_prompts(guideline, carol, 5, wanted=3)
    user = make_users(1, "labeler", guideline)[0]

    leases, errors = ask_all_at_once([user] * 8)

    assert errors == []
    assert len(leases) == 8
    assert len(set(leases)) == 1  # every request got the same task back
    assert Assignment.objects.filter(user=user).count() == 1
