"""The task queue: who gets which task next, under any concurrency.

A task's slots are its submissions plus its leases, counted on the task row
(`submitted_count`, `leased_count`), and it is never handed out beyond `wanted`. A lease
that expires keeps its slot until someone else takes it over; then it lapses, its draft
kept. Each person holds at most one lease of each kind.

On PostgreSQL one statement takes the lease (labeling/queue_lease.py). On SQLite, where
there are no row locks, IMMEDIATE transactions serialize every writer and the same steps
run one by one below.
"""

import itertools
import random
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.token_trust import TokenCheck, TokenCheckFailed
from config.errors import Conflict
from guidelines.models import Guideline
from guidelines.selectors import versions_current_with_acknowledgement
from guidelines.services import GuidelineNotAcknowledged, acknowledgement_require
from labeling.models import (
    Assignment,
    Demonstration,
    LabelerProfile,
    Prompt,
    Task,
    TaskExclusion,
)
from labeling.queue_candidates import candidate_find
from labeling.queue_lease import lease_in_one_statement
from labeling.task_kinds import kind_description

# How long a request keeps asking while every free task is locked by other requests (each
# lock lasts one statement, milliseconds) before it answers "nothing free".
BUSY_WAIT_SECONDS = 5.0
# What the statement raises when another request of the same person won a race: a second
# lease (unique_violation) or a lapsed assignment taken meanwhile (division_by_zero, its
# guard). Anything else is a real error.
RACES = {"23505", "22012"}


class QueueError(Conflict):
    """A queue request that cannot be honoured; the message is for the person who asked."""


class LeaseNotHeld(QueueError):
    code = "lease_not_held"


class LeaseExpired(QueueError):
    code = "lease_expired"


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.LABELING_LEASE_SECONDS)


def _kind_checked(kind: str) -> str:
    # A task of a kind no app registered would have no page, payload or roles to serve it.
    if kind_description(kind) is None:
        raise ValueError(f"No app registered the task kind {kind!r}.")
    return kind


def task_open(
    *,
    kind: str,
    prompt: Prompt,
    wanted: int,
    demonstration: Demonstration | None = None,
    excluded_user: AbstractBaseUser | None = None,
    excluded_user_ids: Iterable[int] = (),
    priority: float = 0.0,
) -> Task:
    """Queue a task of a registered `kind` on `prompt` for `wanted` people, before
    open tasks of lower `priority`.

    It is never handed to `excluded_user` nor to anyone in `excluded_user_ids`: those whose
    writing it contains. A review task (of `demonstration`) stays under the guideline of
    the task the demonstration was written for.
    """
    task = Task.objects.create(
        kind=_kind_checked(kind),
        guideline=demonstration.task.guideline if demonstration else prompt.guideline,
        prompt=prompt,
        demonstration=demonstration,
        wanted=wanted,
        excluded_user=excluded_user,
        priority=priority,
    )
    TaskExclusion.objects.bulk_create(
        [TaskExclusion(task=task, user_id=user_id) for user_id in set(excluded_user_ids)]
    )
    return task


def task_record_imported(*, kind: str, prompt: Prompt) -> Task:
    """The task of work done elsewhere and imported with its one submission: done from the
    start, so it never enters the queue."""
    return Task.objects.create(
        kind=_kind_checked(kind),
        guideline=prompt.guideline,
        prompt=prompt,
        wanted=1,
        submitted_count=1,
        status=Task.Status.DONE,
    )


def _opt_outs(user: AbstractBaseUser) -> list[str]:
    profile = LabelerProfile.objects.filter(user=user).first()
    return list(profile.sensitive_opt_outs) if profile else []


def _guidelines_for(user: AbstractBaseUser, guideline: Guideline | None) -> list[int]:
    """Guidelines whose current version the user acknowledged.

    Asked for one guideline, an unacknowledged version is an error naming it. Asked for
    any, unacknowledged guidelines are left out; if that leaves nothing, the first one is
    named, so a new labeler learns what to read instead of seeing "no work".
    """
    if guideline is not None:
        acknowledgement_require(user=user, guideline=guideline)
        return [guideline.pk]
    current = versions_current_with_acknowledgement(user=user)
    allowed = [version.guideline_id for version, read in current if read]
    if not allowed:
        unread = next((version for version, read in current if not read), None)
        if unread is not None:
            raise GuidelineNotAcknowledged(unread)
    return allowed


def task_next_for_user(
    *,
    user: AbstractBaseUser,
    kind: str,
    guideline: Guideline | None = None,
    token_check: TokenCheck | None = None,
) -> Assignment | None:
    """Lease the next task of `kind` to `user`, or None when there is nothing for them.

    Asking again while holding a lease of that kind returns the same lease, renewed (an
    expired one too, if nobody took its slot over), so a reload never takes a second
    task. A held lease the user may no longer work on lapses when they take another.

    With `token_check` (PostgreSQL only), the request's token was taken on trust and the
    statement confirms it first; TokenCheckFailed when it does not hold, with nothing
    leased, renewed or lapsed.
    """
    if connection.vendor == "postgresql":
        assignment = _lease_in_one_statement(
            user=user, kind=kind, guideline=guideline, token_check=token_check
        )
        if assignment is not None:
            return assignment
        # Nothing leased: say why if it is an unread guideline; if a lease the user may
        # no longer work on was in the way, lapse it and ask again, keeping it if that
        # finds nothing either.
        guideline_ids = _guidelines_for(user, guideline)
        stale = Assignment.objects.filter(user=user, kind=kind).exclude(
            _workable(guideline_ids, _opt_outs(user))
        )
        with transaction.atomic():
            if not leases_lapse(stale):
                return None
            assignment = _lease_in_one_statement(user=user, kind=kind, guideline=guideline)
            if assignment is None:
                transaction.set_rollback(True)
            return assignment
    guideline_ids = _guidelines_for(user, guideline)
    with transaction.atomic():
        return _lease_serialized(user=user, kind=kind, guideline_ids=guideline_ids)


def _lease_in_one_statement(
    *,
    user: AbstractBaseUser,
    kind: str,
    guideline: Guideline | None,
    token_check: TokenCheck | None = None,
) -> Assignment | None:
    give_up = time.monotonic() + BUSY_WAIT_SECONDS
    for attempt in itertools.count():
        # Another request won a race, holds the free tasks, or took the one found: it
        # finishes within milliseconds. Ask again at once, then after short random pauses.
        if attempt > 1:
            if time.monotonic() > give_up:
                return None
            time.sleep(random.uniform(0.001, 0.01))
        now = timezone.now()
        try:
            # A savepoint only inside a caller's transaction: alone, the statement is its
            # own transaction, with no BEGIN or COMMIT to wait for.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                outcome = lease_in_one_statement(
                    user_id=user.pk,
                    kind=kind,
                    guideline_id=guideline.pk if guideline else None,
                    now=now,
                    expires=now + lease_duration(),
                    token_check=token_check,
                )
        except (IntegrityError, DataError) as error:
            # Another request of this user's leased first: asking again finds it.
            if getattr(error.__cause__, "sqlstate", None) not in RACES:
                raise
            continue
        if not outcome.authenticated:
            raise TokenCheckFailed
        token_check = None  # confirmed: asking again need not confirm it again
        if outcome.assignment is not None:
            return outcome.assignment
        if not (outcome.candidates or outcome.busy):
            return None
    return None


def _workable(guideline_ids: list[int], opt_outs: list[str]) -> Q:
    """Assignments whose task the user may work on now: open, under a guideline whose
    current version they read, of no category they opted out of."""
    return Q(task__status=Task.Status.OPEN, task__guideline_id__in=guideline_ids) & ~Q(
        task__prompt__sensitive_category__in=opt_outs
    )


def _lease_serialized(
    *, user: AbstractBaseUser, kind: str, guideline_ids: list[int]
) -> Assignment | None:
    """The statement's steps one by one, for SQLite: its transactions serialize writers."""
    now = timezone.now()
    opt_outs = _opt_outs(user)
    held = (
        Assignment.objects.filter(
            _workable(guideline_ids, opt_outs),
            user=user,
            kind=kind,
            status=Assignment.Status.LEASED,
        )
        .select_related("task__prompt", "task__guideline")
        .first()
    )
    if held is not None:
        if held.expires_at <= now:
            held.leased_at = now
        held.expires_at = now + lease_duration()
        held.save(update_fields=["leased_at", "expires_at"])
        return held
    candidate = candidate_find(
        user_id=user.pk, kind=kind, guideline_ids=guideline_ids, opt_outs=opt_outs, now=now
    )
    if candidate is None:
        return None
    # One lease per person and kind: a held one they may no longer work on lapses.
    leases_lapse(Assignment.objects.filter(user=user, kind=kind))
    if candidate.free:
        Task.objects.filter(pk=candidate.task_id).update(leased_count=F("leased_count") + 1)
    else:
        gone = Assignment.objects.filter(
            task_id=candidate.task_id, status=Assignment.Status.LEASED, expires_at__lte=now
        ).order_by("expires_at")[:1]
        Assignment.objects.filter(pk__in=list(gone.values_list("pk", flat=True))).update(
            status=Assignment.Status.LAPSED
        )
    Task.objects.filter(pk=candidate.task_id, started_at__isnull=True).update(started_at=now)
    lease = {
        "status": Assignment.Status.LEASED,
        "leased_at": now,
        "expires_at": now + lease_duration(),
    }
    if candidate.own_id is not None:
        Assignment.objects.filter(pk=candidate.own_id).update(**lease)
        return Assignment.objects.select_related("task__prompt", "task__guideline").get(
            pk=candidate.own_id
        )
    assignment = Assignment.objects.create(task_id=candidate.task_id, user=user, kind=kind, **lease)
    assignment.task = Task.objects.select_related("prompt", "guideline").get(pk=candidate.task_id)
    return assignment


def leases_lapse(assignments: QuerySet[Assignment]) -> int:
    """End those of `assignments` that are leases, live or expired, and give their slots
    back; their drafts stay. Call it inside a transaction; returns how many ended."""
    leased = assignments.filter(status=Assignment.Status.LEASED)
    task_ids = sorted(set(leased.values_list("task_id", flat=True)))
    # Task rows before assignments, in id order, as the queue's statement and a skip lock
    # them: the other order could deadlock with those.
    list(Task.objects.select_for_update().filter(pk__in=task_ids).order_by("pk").values_list("pk"))
    ended = list(
        leased.filter(task_id__in=task_ids)
        .select_for_update(of=("self",))
        .values_list("pk", "task_id")
    )
    Assignment.objects.filter(pk__in=[pk for pk, _ in ended]).update(
        status=Assignment.Status.LAPSED
    )
    # Relative updates: the counts of the rows ended under the lock.
    for task_id, count in Counter(task_id for _, task_id in ended).items():
        Task.objects.filter(pk=task_id).update(leased_count=F("leased_count") - count)
    return len(ended)


def lease_deleted(*, instance: Assignment, **_: object) -> None:
    """post_delete of an assignment: a deleted lease's slot is free again."""
    if instance.status == Assignment.Status.LEASED:
        Task.objects.filter(pk=instance.task_id).update(leased_count=F("leased_count") - 1)


def task_close(*, task: Task) -> None:
    """Take the task out of the queue; leases on it end (their holders are told when they
    next save or submit). Call it inside a transaction."""
    Task.objects.filter(pk=task.pk).update(status=Task.Status.CLOSED)
    leases_lapse(Assignment.objects.filter(task=task))


def assignment_held(*, user: AbstractBaseUser, task_id: int, lock: bool = False) -> Assignment:
    """The user's live lease on the task, or a QueueError saying why not."""
    # With what a submission reads next, in the same round trip.
    assignments = Assignment.objects.select_related("task__guideline", "task__prompt")
    if lock:
        assignments = assignments.select_for_update(of=("self",))
    assignment = assignments.filter(task_id=task_id, user=user).first()
    if assignment is None or assignment.status == Assignment.Status.SKIPPED:
        raise LeaseNotHeld("This task is not leased to you: ask for the next task.")
    if assignment.status == Assignment.Status.SUBMITTED:
        raise LeaseNotHeld("You already submitted this task.")
    if assignment.status == Assignment.Status.LAPSED:
        raise LeaseExpired(
            f"Your lease on task {task_id} ended: the task was closed or your slot went to "
            "someone else after the lease expired. Your draft is saved; ask for the next task."
        )
    if assignment.expires_at <= timezone.now():
        raise LeaseExpired(
            f"Your lease on task {task_id} expired at {assignment.expires_at:%H:%M:%S} UTC; "
            "your draft is saved: ask for the task again to finish it."
        )
    return assignment


@transaction.atomic
def lease_renew(
    *, user: AbstractBaseUser, task_id: int, time_spent_s: int | None = None
) -> Assignment:
    """Keep the lease, and the time on task the page has counted if it says so."""
    assignment = assignment_held(user=user, task_id=task_id, lock=True)
    assignment.expires_at = timezone.now() + lease_duration()
    fields = ["expires_at"]
    if _time_kept(assignment, time_spent_s):
        fields.append("time_spent_s")
    assignment.save(update_fields=fields)
    return assignment


def _time_kept(assignment: Assignment, time_spent_s: int | None) -> bool:
    """Time on task only grows: a second tab or a late request that counted less than
    what is kept changes nothing."""
    if time_spent_s is None or time_spent_s <= assignment.time_spent_s:
        return False
    assignment.time_spent_s = time_spent_s
    return True


def task_row_lock(task_id: int) -> None:
    """Lock the task's row, before any lease on it: the order task_close and the queue's
    statement take them in (leases_lapse), so those who change both wait for each other
    instead of deadlocking. Call it inside a transaction."""
    list(Task.objects.select_for_update().filter(pk=task_id).values_list("pk"))


@transaction.atomic
def task_skip(*, user: AbstractBaseUser, task_id: int) -> Assignment:
    """Give the task back; it is never offered to this user again."""
    task_row_lock(task_id)
    assignment = assignment_held(user=user, task_id=task_id, lock=True)
    assignment.status = Assignment.Status.SKIPPED
    assignment.finished_at = timezone.now()
    assignment.save(update_fields=["status", "finished_at"])
    Task.objects.filter(pk=assignment.task_id).update(leased_count=F("leased_count") - 1)
    return assignment


def assignment_finish(*, assignment: Assignment) -> None:
    """Mark a held lease submitted and count it on its task.

    Call it inside the transaction that saves the submission, so both happen or neither.
    """
    now = timezone.now()
    assignment.status = Assignment.Status.SUBMITTED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    # The lease's slot becomes a submission's, in one relative update of the task row.
    Task.objects.filter(pk=assignment.task_id).update(
        submitted_count=F("submitted_count") + 1,
        leased_count=F("leased_count") - 1,
        status=Case(
            When(submitted_count__gte=F("wanted") - 1, then=Value(Task.Status.DONE)),
            default=F("status"),
        ),
    )


@transaction.atomic
def draft_autosave(
    *, user: AbstractBaseUser, task_id: int, content: str, time_spent_s: int | None = None
) -> Assignment:
    """Keep the work in progress and, since the page is evidently open, the lease too."""
    assignment = assignment_held(user=user, task_id=task_id, lock=True)
    assignment.draft = content
    assignment.draft_saved_at = timezone.now()
    assignment.expires_at = assignment.draft_saved_at + lease_duration()
    fields = ["draft", "draft_saved_at", "expires_at"]
    if _time_kept(assignment, time_spent_s):
        fields.append("time_spent_s")
    assignment.save(update_fields=fields)
    return assignment
