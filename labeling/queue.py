"""The task queue: who gets which task next, under any concurrency.

A task counts its submissions plus its live leases toward `wanted` and is never handed out
beyond that. Exactness comes from the database: a candidate task row is locked
(`FOR UPDATE SKIP LOCKED`, so concurrent callers spread over different tasks instead of
queueing on one), and its free slots are counted again under that lock before a lease is
written. On SQLite, where there are no row locks, IMMEDIATE transactions serialize every
writer, which gives the same guarantee with less concurrency.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

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
from labeling.queue_candidates import candidate_lock
from labeling.task_kinds import kind_description

# How many locked-or-stale candidates one request tries before answering "nothing free".
MAX_ATTEMPTS = 8


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


def _free_slots(task: Task, now) -> int:  # type: ignore[no-untyped-def]
    live = Assignment.objects.filter(task=task, status=Assignment.Status.LEASED, expires_at__gt=now)
    return task.wanted - task.submitted_count - live.count()


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


def _current_lease(
    user: AbstractBaseUser, kind: str, guideline_ids: list[int], now
) -> Assignment | None:  # type: ignore[no-untyped-def]
    return (
        Assignment.objects.select_related("task__prompt", "task__guideline")
        .filter(
            user=user,
            status=Assignment.Status.LEASED,
            expires_at__gt=now,
            task__kind=kind,
            task__status=Task.Status.OPEN,
            task__guideline_id__in=guideline_ids,
        )
        .order_by("leased_at")
        .first()
    )


def task_next_for_user(
    *, user: AbstractBaseUser, kind: str, guideline: Guideline | None = None
) -> Assignment | None:
    """Lease the next task of `kind` to `user`, or None when there is nothing for them.

    Asking again while holding a live lease of that kind returns the same lease, renewed,
    so a reload never takes a second task.
    """
    guideline_ids = _guidelines_for(user, guideline)
    for blocking in (False, True):
        # First pass skips rows other requests hold; if all free tasks were locked, the
        # second pass waits for them, so "nothing free" is never an artefact of timing.
        for _ in range(MAX_ATTEMPTS):
            outcome = _try_lease(
                user=user, kind=kind, guideline_ids=guideline_ids, skip_locked=not blocking
            )
            if outcome == "none":
                break
            if isinstance(outcome, Assignment):
                return outcome
    return None


def _try_lease(*, user, kind, guideline_ids, skip_locked) -> Assignment | str:  # type: ignore[no-untyped-def]
    try:
        with transaction.atomic():
            return _try_lease_locked(
                user=user, kind=kind, guideline_ids=guideline_ids, skip_locked=skip_locked
            )
    except IntegrityError:
        # The unique (task, user) row appeared under us: another request of this user's
        # leased the task first. Asking again finds that lease.
        return "retry"


def _try_lease_locked(*, user, kind, guideline_ids, skip_locked) -> Assignment | str:  # type: ignore[no-untyped-def]
    # One "next" per user at a time: a second request from the same user (a double click,
    # two tabs) waits here, then finds and renews the lease the first one took, instead
    # of leasing a second task.
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    now = timezone.now()
    current = _current_lease(user, kind, guideline_ids, now)
    if current is not None:
        current.expires_at = now + lease_duration()
        current.save(update_fields=["expires_at"])
        return current
    candidate = candidate_lock(
        user_id=user.pk,
        kind=kind,
        guideline_ids=guideline_ids,
        opt_outs=_opt_outs(user),
        now=now,
        skip_locked=skip_locked,
    )
    if candidate is None:
        return "none"
    task = Task.objects.select_related("prompt", "guideline").get(pk=candidate.task_id)
    # The locked row is its newest version, so status and submitted_count are current;
    # live leases are other rows, which the candidate query may have read in a
    # snapshot taken before another request's lease on this task committed: count
    # them again, under the lock.
    if task.status != Task.Status.OPEN or _free_slots(task, now) <= 0:
        return "retry"
    return _lease(task=task, user=user, now=now, renew_own=candidate.has_own_expired_lease)


def _lease(*, task: Task, user: AbstractBaseUser, now, renew_own: bool) -> Assignment:  # type: ignore[no-untyped-def]
    expires = now + lease_duration()
    if renew_own:
        # The user's own lease had expired and nobody filled the slot: they get it back,
        # with their autosaved draft.
        assignment = Assignment.objects.get(task=task, user=user)
        assignment.leased_at, assignment.expires_at = now, expires
        assignment.save(update_fields=["leased_at", "expires_at"])
    else:
        assignment = Assignment.objects.create(
            task=task, user=user, leased_at=now, expires_at=expires
        )
    assignment.task = task
    if task.started_at is None:
        Task.objects.filter(pk=task.pk).update(started_at=now)
    return assignment


def assignment_held(*, user: AbstractBaseUser, task_id: int, lock: bool = False) -> Assignment:
    """The user's live lease on the task, or a QueueError saying why not."""
    assignments = Assignment.objects.select_related("task")
    if lock:
        assignments = assignments.select_for_update(of=("self",))
    assignment = assignments.filter(task_id=task_id, user=user).first()
    if assignment is None or assignment.status == Assignment.Status.SKIPPED:
        raise LeaseNotHeld("This task is not leased to you: ask for the next task.")
    if assignment.status == Assignment.Status.SUBMITTED:
        raise LeaseNotHeld("You already submitted this task.")
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


@transaction.atomic
def task_skip(*, user: AbstractBaseUser, task_id: int) -> Assignment:
    """Give the task back; it is never offered to this user again."""
    assignment = assignment_held(user=user, task_id=task_id, lock=True)
    assignment.status = Assignment.Status.SKIPPED
    assignment.finished_at = timezone.now()
    assignment.save(update_fields=["status", "finished_at"])
    return assignment


def assignment_finish(*, assignment: Assignment) -> None:
    """Mark a held lease submitted and count it on its task.

    Call it inside the transaction that saves the submission, so both happen or neither.
    """
    now = timezone.now()
    assignment.status = Assignment.Status.SUBMITTED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    task = Task.objects.select_for_update().get(pk=assignment.task_id)
    task.submitted_count = F("submitted_count") + 1
    task.save(update_fields=["submitted_count"])
    task.refresh_from_db(fields=["submitted_count"])
    if task.submitted_count >= task.wanted:
        Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE)


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
