"""The one job machinery: how every long job (imports, exports, training runs,
generations, and the kinds added later) is sent, claimed, kept alive, finished,
taken over and recovered.

A job is a row of a model built on `jobs.models.Job`. Its message is published only
after its row is committed, with a short publish timeout, and `sent_at` records that it
left; a worker claims the row atomically (queued, or running with a heartbeat gone
quiet) and gets an attempt number; every later write of that attempt goes through
`held`, so a worker that lost the job to another cannot overwrite the new attempt.
Each app registers its kinds (`job_kind_register`, from its AppConfig.ready): the task
that runs one, and how the jobs page names and links it. Recovery, sending and the jobs
page are then one loop over `JOB_KINDS`, and this module imports no app's models.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.errors import Conflict
from config.publish import BrokerUnavailable, task_publish
from config.publish import error_text as job_error_text
from jobs.models import Job, JobsRecovery, JobStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobKind:
    # The Celery task that runs one job of the kind, given its id. A name, not the task
    # object: sending needs no import of the tasks module (nor of torch).
    task: str
    # What admins call it on the jobs page, and the URL name (with the name of its one
    # argument, the job's id) of the page that shows one job.
    label: str
    page: str
    page_argument: str


# Model -> its kind, filled by the apps' ready(). Only read after the app registry is
# ready, when every app has registered its own.
JOB_KINDS: dict[type[Job], JobKind] = {}
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
# A queued job committed this long ago and never sent: its process died before it could
# publish (or the broker refused), and the recovery sends it.
UNSENT_AFTER_S = 30
# A queued job sent this long ago and still not claimed may have lost its message: a
# worker killed after taking it from the embedded broker, or a Redis restarted without
# persistence. It is sent again (and `sent_at` moves on), so a job waiting behind a long
# training run gets one spare message per interval at most; the claim makes the spares
# find nothing to do.
RESEND_QUEUED_AFTER_S = 10 * 60
# A job whose worker died this many times (or that was claimed this often: a run handed
# back by a stopping worker counts too, hence the margin) is failed instead of taken over
# again, so a job that kills its worker (out of memory, a crashing library) cannot keep
# the queue busy for ever. A retry from the Jobs page gives it one more attempt.
MAX_ATTEMPTS = 8


def job_kind_register(model: type[Job], kind: JobKind) -> None:
    """Called by the app that owns `model`: sending, recovery and the jobs page then
    cover its jobs."""
    JOB_KINDS[model] = kind


class JobLost(Exception):
    """Another worker took the job over (this one's heartbeat had gone quiet), or it was
    closed meanwhile: this attempt must stop without writing anything more."""


class JobCancelled(Exception):
    """Raised by a job's work when it stopped at a cancel asked for while it ran."""


class JobStateError(Conflict):
    """A retry or cancel the job's status does not allow."""


# --- claiming ---------------------------------------------------------------------------


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.TRAINING_STALE_AFTER_S)


def stale() -> Q:
    """Running under a worker whose heartbeat stopped. A row with no heartbeat at all (a
    job that was running before jobs had heartbeats) goes by when it started."""
    before = _stale_before()
    silent = Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, started_at__lt=before)
    return Q(status=JobStatus.RUNNING) & silent


def orphan() -> Q:
    """Stale, not being cancelled and not past its attempts: the next worker should take
    it over."""
    return stale() & Q(cancel_requested=False, attempts__lt=MAX_ATTEMPTS)


def worn_out() -> Q:
    """Stale after MAX_ATTEMPTS attempts: failed by the recovery, not taken over."""
    return stale() & Q(cancel_requested=False, attempts__gte=MAX_ATTEMPTS)


def _not_sent_lately() -> Q:
    """No message sent for the job within the stale period: one is enough while it waits
    for a worker, even if the recovery runs every minute."""
    return Q(sent_at__isnull=True) | Q(sent_at__lt=_stale_before())


def claimable() -> Q:
    """Queued, or orphaned."""
    return Q(status=JobStatus.QUEUED) | orphan()


def unsent() -> Q:
    """Queued a while ago and not handed to the broker since: never sent, or handed back
    by a worker (queued again after it started) without a message recorded after that,
    or sent so long ago that its message may be lost."""
    now = timezone.now()
    before = now - timedelta(seconds=UNSENT_AFTER_S)
    not_sent_since = Q(sent_at__isnull=True) | Q(sent_at__lt=F("started_at"))
    message_lost = Q(sent_at__lt=now - timedelta(seconds=RESEND_QUEUED_AFTER_S))
    return Q(status=JobStatus.QUEUED, created_at__lt=before) & (not_sent_since | message_lost)


def job_claim(model: type[Job], pk: int) -> int | None:
    """The attempt number now held, or None when the job is not to be had (another
    delivery holds it, or it is finished or being cancelled)."""
    now = timezone.now()
    claimed = model.objects.filter(claimable(), pk=pk, cancel_requested=False).update(
        status=JobStatus.RUNNING,
        started_at=Coalesce(F("started_at"), now),
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    # Nobody can claim it again until this fresh heartbeat goes stale.
    return model.objects.filter(pk=pk).values_list("attempts", flat=True).get()


def held(model: type[Job], pk: int, attempt: int) -> QuerySet:
    """The job's row while `attempt` still holds it; empty once it was lost or closed."""
    return model.objects.filter(pk=pk, attempts=attempt, status=JobStatus.RUNNING)


def cancelled_orphans_close(model: type[Job], **only: object) -> int:
    """Closes the jobs cancelled while their worker was dead: nobody will stop them at a
    step, and orphan() leaves them alone. `only` narrows it down (pk=...)."""
    return model.objects.filter(stale(), cancel_requested=True, **only).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )


def orphaned(model: type[Job]) -> list[int]:
    """Ids of the jobs of `model` whose heartbeat went quiet."""
    return list(model.objects.filter(orphan()).values_list("pk", flat=True))


# --- running ----------------------------------------------------------------------------


class Heartbeat:
    """Writes `heartbeat_at` from a thread of its own while a job runs, and notices a
    cancel asked for in the meantime. If the process dies, the heartbeat stops with it,
    which is how the next worker knows the job is orphaned."""

    def __init__(self, model: type[Job], pk: int, attempt: int):
        self.model, self.pk, self.attempt = model, pk, attempt
        # Set on a cancel, and when the job was lost (then `lost` too): either way stop.
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.TRAINING_HEARTBEAT_S):
                rows = held(self.model, self.pk, self.attempt)
                try:
                    if rows.update(heartbeat_at=timezone.now()):
                        if rows.filter(cancel_requested=True).exists():
                            self.cancelled.set()
                    elif self._taken():
                        self.lost.set()
                        self.cancelled.set()
                except DatabaseError:
                    # A busy database costs one beat, not the job: the next try comes soon.
                    logger.warning("heartbeat of %s %s missed", self.model.__name__, self.pk)
        finally:
            connection.close()

    def _taken(self) -> bool:
        """Whether the row is there and no longer this attempt's. A row this thread cannot
        see at all (not committed yet by the thread that claimed it, as in a test's
        transaction) is not taken: the attempt's own writes tell it the rest."""
        return (
            self.model.objects.filter(pk=self.pk)
            .exclude(attempts=self.attempt, status=JobStatus.RUNNING)
            .exists()
        )


@dataclass
class Attempt:
    """One worker's hold on a job: its writes go through `rows()`."""

    model: type[Job]
    pk: int
    number: int
    heartbeat: Heartbeat

    def rows(self) -> QuerySet:
        return held(self.model, self.pk, self.number)

    def should_stop(self) -> bool:
        return self.heartbeat.cancelled.is_set()

    def lost(self) -> JobLost:
        return JobLost(
            f"{self.model.__name__} {self.pk} is no longer held by attempt {self.number}"
        )

    def finish(self, **update: object) -> None:
        """The job's outcome, written only if this attempt still holds it."""
        if not self.rows().update(finished_at=timezone.now(), **update):
            raise self.lost()


def job_execute(model: type[Job], pk: int, work: Callable[[Attempt], None]) -> Job | None:
    """Claim the job, run `work` under a heartbeat, and close the job however it ends:
    `work` writes its own success (through `attempt.finish`); a cancel ends `cancelled`,
    an exception `failed` with its text, a lost job is left to its new holder. None when
    the job was not to be had."""
    number = job_claim(model, pk)
    if number is None:
        return None
    with Heartbeat(model, pk, number) as heartbeat:
        attempt = Attempt(model, pk, number, heartbeat)
        try:
            work(attempt)
        except Exception as exc:
            if heartbeat.lost.is_set() or isinstance(exc, JobLost):
                logger.warning("%s %s: attempt %s lost the job", model.__name__, pk, number)
            elif isinstance(exc, JobCancelled):
                attempt.rows().update(status=JobStatus.CANCELLED, finished_at=timezone.now())
            else:
                logger.exception("%s %s failed", model.__name__, pk)
                attempt.rows().update(
                    status=JobStatus.FAILED, error=job_error_text(exc), finished_at=timezone.now()
                )
    return model.objects.get(pk=pk)


# --- sending ----------------------------------------------------------------------------


def job_publish(job: Job) -> None:
    """Hand the job's message to the broker now and record when; BrokerUnavailable
    when the broker refused or did not answer."""
    task_publish(JOB_KINDS[type(job)].task, args=[job.pk])
    type(job).objects.filter(pk=job.pk).update(sent_at=timezone.now())


def job_send(job: Job, *, restore: dict[str, object] | None = None) -> None:
    """Send the job once the current transaction commits. If the broker is down, a new
    job's row is deleted (`restore` None) or a re-queued one goes back to the fields in
    `restore`, and BrokerUnavailable is raised from the commit."""
    model = type(job)

    def send() -> None:
        try:
            job_publish(job)
        except BrokerUnavailable:
            with transaction.atomic():
                # Only while it is still queued and unsent: a recovery that managed to send
                # it meanwhile wins.
                rows = model.objects.filter(pk=job.pk, status=JobStatus.QUEUED, sent_at=None)
                if restore is None:
                    rows.delete()
                else:
                    rows.update(**restore)
            raise

    transaction.on_commit(send)


def job_requeue(job: Job, *, reset: dict[str, object] | None = None) -> Job:
    """Queue a failed, cancelled or stuck (silent) job again and send it; it resumes
    where it stopped: an import skips the lines it already imported, an export writes the
    same snapshot, a training run resumes from its checkpoint, a generation skips the
    prompts it filed. JobStateError for a job that is queued, running or succeeded."""
    model = type(job)
    fields = ("status", "finished_at", "error", "cancel_requested", "sent_at")
    before = model.objects.filter(pk=job.pk).values(*fields).first()
    if before is None:
        raise JobStateError(f"{model.__name__} {job.pk} no longer exists.")
    retryable = Q(status__in=[JobStatus.FAILED, JobStatus.CANCELLED]) | stale()
    with transaction.atomic():
        if not model.objects.filter(retryable, pk=job.pk).update(
            status=JobStatus.QUEUED,
            finished_at=None,
            error="",
            cancel_requested=False,
            sent_at=None,
            **(reset or {}),
        ):
            raise JobStateError(
                f"The job is {before['status']}: only a failed, cancelled or stuck job runs again."
            )
        job_send(job, restore=before)
    job.refresh_from_db()
    return job


def job_cancel(job: Job) -> Job:
    """A queued job stops at once; a running one at its next step, or at once when its
    worker is dead. JobStateError for a finished job."""
    model = type(job)
    now = timezone.now()
    if not model.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=now, cancel_requested=True
    ):
        if not model.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            cancel_requested=True
        ):
            job.refresh_from_db()
            raise JobStateError(f"The job is already {job.status}.")
        # Its worker may be dead, with nobody left to stop it at a step.
        cancelled_orphans_close(model, pk=job.pk)
    job.refresh_from_db()
    return job


# --- recovery ---------------------------------------------------------------------------


def jobs_recover_all() -> dict[str, list[int]]:
    """For every kind: close the cancelled jobs whose worker died, and send again the
    orphans and the queued jobs never sent. Returns what was sent, per kind."""
    sent: dict[str, list[int]] = {}
    for model in JOB_KINDS:
        cancelled_orphans_close(model)
        model.objects.filter(worn_out()).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=f"Its worker stopped answering {MAX_ATTEMPTS} times while running it "
            "(killed, out of memory?); retry it once the cause is fixed.",
        )
        due = (orphan() & _not_sent_lately()) | unsent()
        ids = list(model.objects.filter(due).values_list("pk", flat=True))
        for job in model.objects.filter(pk__in=ids):
            try:
                job_publish(job)
            except BrokerUnavailable:
                logger.warning("recovery: %s %s not sent, broker down", model.__name__, job.pk)
                continue
            sent.setdefault(model.__name__, []).append(job.pk)
    resent = sum(len(ids) for ids in sent.values())
    JobsRecovery.objects.update_or_create(
        pk=1, defaults={"ran_at": timezone.now(), "resent": resent}
    )
    return sent
