"""Submitting a demonstration on PostgreSQL in one statement: it saves what the ORM path
saves, and leaves every case it does not plainly cover to that path, which says why."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import token_issue
from guidelines.models import Acknowledgement
from labeling.models import Assignment, Demonstration, Task
from labeling.queue import task_next_for_user, task_skip
from labeling.services import _demonstration_submit
from labeling.submit_statement import demonstration_submit_in_one_statement
from tests.labeling.conftest import make_prompts

pytestmark = [
    # Outside a test transaction: the statement is its own, as in a request.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL"),
]

DEMONSTRATIONS = "/api/demonstrations/"
# What differs between two submissions of two tasks however they were saved.
OWN = {
    *("id", "task", "prompt", "demonstration", "created_at", "updated_at"),
    *("started_at", "leased_at", "expires_at", "finished_at"),
}


def leased(user):
    return task_next_for_user(user=user, kind=Task.Kind.DEMONSTRATION)


def submitted_by_the_orm(user, task_id):
    with transaction.atomic():
        demonstration, _created = _demonstration_submit(
            author=user,
            task_id=task_id,
            text="The ideal reply.",
            time_spent_s=42,
            idempotency_key="orm",
            started_from_draft=False,
            claimed_draft_text=None,
            claimed_draft_id=None,
            claimed_own_draft=False,
        )
    return demonstration


def what_was_saved(demonstration):
    """The demonstration, its task, its lease and the review task it opened, less what is
    each submission's own."""
    task = Task.objects.get(pk=demonstration.task_id)
    review = Task.objects.get(demonstration=demonstration)
    lease = Assignment.objects.get(task=task)
    return [
        {k: v for k, v in model_to_dict(row).items() if k not in OWN | {"idempotency_key"}}
        for row in (Demonstration.objects.get(pk=demonstration.pk), task, review, lease)
    ] + [lease.finished_at is not None]


def test_the_statement_saves_what_the_orm_path_saves(alice, read, guideline, carol):
    make_prompts(guideline, carol, 2)
    read(alice)
    first = leased(alice).task_id
    by_orm = submitted_by_the_orm(alice, first)
    second = leased(alice).task_id

    by_statement = demonstration_submit_in_one_statement(
        author_id=alice.pk,
        task_id=second,
        text="The ideal reply.",
        time_spent_s=42,
        idempotency_key="statement",
    )

    assert by_statement is not None
    assert by_statement.task_id == second
    assert by_statement.prompt_id == Task.objects.get(pk=second).prompt_id
    review = Task.objects.get(demonstration=by_statement)
    assert (review.prompt_id, review.guideline_id) == (by_statement.prompt_id, guideline.pk)
    assert by_statement.guideline_version.number == 1
    assert what_was_saved(by_statement) == what_was_saved(by_orm)


def test_a_submission_over_http_is_the_token_check_and_one_statement(alice, read, guideline, carol):
    make_prompts(guideline, carol, 1)
    read(alice)
    task_id = leased(alice).task_id
    _token, plain = token_issue(user=alice)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {plain}")
    api.get("/api/me/")  # the token's last_used_at, written once a minute

    with CaptureQueriesContext(connection) as asked:
        response = api.post(DEMONSTRATIONS, {"task": task_id, "content": "Hi."}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["guideline_version"] == 1
    assert response.json()["reviews"] == []
    assert len(asked.captured_queries) == 2, [q["sql"][:60] for q in asked.captured_queries]


def test_what_the_statement_leaves_alone_gets_the_orm_paths_answers(
    alice, read, guideline, carol, api
):
    make_prompts(guideline, carol, 2)
    read(alice)
    api.force_authenticate(alice)
    task_id = leased(alice).task_id
    body = {"task": task_id, "content": "Hi."}
    Assignment.objects.filter(user=alice).update(expires_at=timezone.now() - timedelta(seconds=1))

    expired = api.post(DEMONSTRATIONS, body, format="json")

    assert expired.status_code == 409 and "expired" in expired.json()["detail"]
    leased(alice)  # the same task again
    keyed = {"HTTP_IDEMPOTENCY_KEY": "k1"}
    made = api.post(DEMONSTRATIONS, body, format="json", **keyed)
    again = api.post(DEMONSTRATIONS, body, format="json", **keyed)
    twice = api.post(DEMONSTRATIONS, body, format="json")
    other_task = leased(alice).task_id
    key_reused = api.post(
        DEMONSTRATIONS, {"task": other_task, "content": "Hi."}, format="json", **keyed
    )

    assert (made.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == made.json()["id"]
    assert twice.status_code == 409 and "already submitted" in twice.json()["detail"]
    assert key_reused.status_code == 409
    assert Demonstration.objects.count() == 1
    # The other task's lease is still held: nothing of the refused submission was saved.
    assert Assignment.objects.get(task_id=other_task).status == Assignment.Status.LEASED


def test_two_submissions_of_one_lease_at_once_make_one_demonstration(alice, read, guideline, carol):
    make_prompts(guideline, carol, 1)
    read(alice)
    task_id = leased(alice).task_id
    barrier = threading.Barrier(2)
    outcomes = []

    def submit(key):
        try:
            barrier.wait()
            outcomes.append(
                demonstration_submit_in_one_statement(
                    author_id=alice.pk,
                    task_id=task_id,
                    text="Hi.",
                    time_spent_s=0,
                    idempotency_key=key,
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(key,)) for key in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # However the two interleave (the locks, or the one-per-task constraint), one saves.
    assert sorted(x is None for x in outcomes) == [False, True]
    assert Demonstration.objects.count() == 1
    task = Task.objects.get(pk=task_id)
    assert (task.submitted_count, task.leased_count, task.status) == (1, 0, "done")
    assert Task.objects.filter(kind=Task.Kind.REVIEW).count() == 1


def submitted(user, task_id):
    return demonstration_submit_in_one_statement(
        author_id=user.pk, task_id=task_id, text="Hi.", time_spent_s=0, idempotency_key=""
    )


def test_a_skip_holding_the_task_makes_the_statement_wait_and_save_nothing(
    alice, read, guideline, carol
):
    make_prompts(guideline, carol, 1)
    read(alice)
    task_id = leased(alice).task_id
    skipping = threading.Event()

    def skip():
        try:
            with transaction.atomic():
                task_skip(user=alice, task_id=task_id)
                skipping.set()
                time.sleep(0.5)  # the statement starts meanwhile and waits for the locks
        finally:
            connection.close()

    skipper = threading.Thread(target=skip)
    skipper.start()
    skipping.wait(timeout=30)
    outcome = submitted(alice, task_id)
    skipper.join()

    # Without its locks the statement would have read the lease as held and marked it
    # submitted over the skip, taking the task's lease count down twice.
    assert outcome is None
    assert Demonstration.objects.count() == 0
    assert Assignment.objects.get(task_id=task_id).status == Assignment.Status.SKIPPED
    task = Task.objects.get(pk=task_id)
    assert (task.submitted_count, task.leased_count, task.status) == (0, 0, "open")


def _another_users_lease(alice, bob, task_id):
    Assignment.objects.filter(task_id=task_id).update(user=bob)


def _lapsed(alice, bob, task_id):
    Assignment.objects.filter(task_id=task_id).update(status=Assignment.Status.LAPSED)


def _skipped(alice, bob, task_id):
    task_skip(user=alice, task_id=task_id)


def _guideline_unread(alice, bob, task_id):
    Acknowledgement.objects.filter(user=alice).delete()


@pytest.mark.parametrize("change", [_another_users_lease, _lapsed, _skipped, _guideline_unread])
def test_a_submission_the_orm_path_would_refuse_is_not_saved(
    change, alice, bob, read, guideline, carol
):
    make_prompts(guideline, carol, 1)
    read(alice)
    task_id = leased(alice).task_id
    change(alice, bob, task_id)
    before = list(Task.objects.values_list("pk", "submitted_count", "leased_count", "status"))

    assert submitted(alice, task_id) is None
    assert Demonstration.objects.count() == 0
    assert Assignment.objects.get(task_id=task_id).status != Assignment.Status.SUBMITTED
    assert list(Task.objects.values_list("pk", "submitted_count", "leased_count", "status")) == (
        before
    )


def test_a_review_task_takes_no_demonstration(alice, erin, read, guideline, carol):
    make_prompts(guideline, carol, 1)
    read(alice, erin)
    assert submitted(alice, leased(alice).task_id) is not None
    review = task_next_for_user(user=erin, kind=Task.Kind.REVIEW)

    assert submitted(erin, review.task_id) is None
    assert Demonstration.objects.count() == 1
    assert Assignment.objects.get(task_id=review.task_id).status == Assignment.Status.LEASED
