"""Celery tasks of the trainer app: take ids, re-fetch, call the service."""

import contextlib
import threading

from celery import shared_task
from celery.signals import worker_shutting_down
from django.conf import settings

from jobs.models import JobStatus
from jobs.services import BrokerUnavailable, job_publish
from trainer.models import TrainingRun
from trainer.retraining import runs_start_when_enough_data
from trainer.training import run_execute

# Training runs for hours: its limits are its own (CELERY_TRAINING_TIME_LIMIT), with the
# soft limit a minute earlier so the run can be marked failed rather than vanish.
TRAINING_LIMITS = {
    "time_limit": settings.CELERY_TRAINING_TIME_LIMIT,
    "soft_time_limit": settings.CELERY_TRAINING_TIME_LIMIT - 60,
}


# Set when this worker process begins a warm shutdown (SIGTERM). The signal reaches the
# process that runs the task only with the solo pool, which the training worker uses.
worker_stopping = threading.Event()


@worker_shutting_down.connect
def _stop_training_at_next_step(sender=None, how: str = "", **kwargs) -> None:
    if how == "Warm":
        worker_stopping.set()


@shared_task(name="trainer.tasks.train_run", acks_late=True, **TRAINING_LIMITS)
def train_run(run_id: int) -> str | None:
    if worker_stopping.is_set():
        # Celery's blocking loop (brokers without an event hub, such as the embedded one)
        # reads one more message after a warm shutdown began: leave that run to the next
        # worker with a fresh message, as this one is acknowledged when the task returns.
        _send_again(run_id)
        return None
    # A second delivery of a run another worker is training finds nothing to claim.
    run = run_execute(run_id=run_id, should_suspend=worker_stopping.is_set)
    if run and run.status == JobStatus.QUEUED:
        # Handed back by this stopping worker: sent again only now that the row is
        # queued, so the next worker can claim it. With this task's own message
        # acknowledged on return, exactly one message brings the run back.
        _send_again(run_id)
    return run.status if run else None


def _send_again(run_id: int) -> None:
    """A fresh message for a run handed back, recorded in `sent_at`; if the broker is down
    the run stays queued and the recovery sends it once the broker is back."""
    with contextlib.suppress(BrokerUnavailable):
        job_publish(TrainingRun.objects.get(pk=run_id))


@shared_task(name="trainer.tasks.score_comparisons", acks_late=True, expires=120)
def score_comparisons() -> int:
    """A pass of the reward model over open comparisons it has not scored; the next pass
    follows at once if this one ran out of time with some still due."""
    from trainer.priorities import comparisons_score, scoring_send

    scored, more = comparisons_score()
    if more:
        scoring_send()
    return scored


@shared_task(name="trainer.tasks.generate_candidates", acks_late=True, **TRAINING_LIMITS)
def generate_candidates(job_id: int) -> str | None:
    from trainer.generation import generation_run

    job = generation_run(job_id=job_id)
    return job.status if job else None


@shared_task(name="trainer.tasks.generate_drafts", acks_late=True, **TRAINING_LIMITS)
def generate_drafts(job_id: int) -> str | None:
    from trainer.drafts import drafts_run

    job = drafts_run(job_id=job_id)
    return job.status if job else None


@shared_task(name="trainer.tasks.evaluate_models", acks_late=True, **TRAINING_LIMITS)
def evaluate_models(job_id: int) -> str | None:
    from trainer.evaluations import evaluation_run

    job = evaluation_run(job_id=job_id)
    return job.status if job else None


@shared_task(name="trainer.tasks.train_when_enough_data", acks_late=True)
def train_when_enough_data() -> list[int]:
    """Beat runs this on the schedule in the admin (hourly unless changed there)."""
    return [run.pk for run in runs_start_when_enough_data()]
