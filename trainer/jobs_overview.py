"""Jobs of every kind that need an admin's eye: failed, stuck (running with a heartbeat
gone quiet) or waiting in the queue for long, with what the jobs page links and offers.

Read through the registry of job kinds (trainer.jobs.JOB_TASKS), so a kind added later is
listed without touching this module; one query per kind and state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from trainer.jobs import JOB_TASKS, stale
from trainer.models import Job, JobStatus

# A queued job older than this is shown as waiting: its worker is busy, stopped, or its
# queue is behind (a training run waits behind another for hours, which is normal).
WAITING_AFTER = timedelta(minutes=10)
# Failed jobs are shown for this long; older ones stay in each kind's own list.
FAILED_SHOWN_FOR = timedelta(days=14)
ROWS_PER_KIND = 50
# The page that shows one job of a kind, by model name: (URL name, its argument's name).
PAGES = {
    "ImportJob": ("trainer-import-page", "job_id"),
    "DatasetSnapshot": ("trainer-export-page", "snapshot_id"),
    "TrainingRun": ("dashboard-run", "run_id"),
    "GenerationJob": ("dashboard-generation", "job_id"),
}


# How the page names each kind, where the model's own name is not what admins call it.
LABELS = {"DatasetSnapshot": "Export", "ImportJob": "Import", "GenerationJob": "Generation"}


@dataclass(frozen=True)
class JobRow:
    kind: str  # the model's name, which is also how the page's forms name it
    label: str
    pk: int
    state: str  # "failed", "stuck", "waiting", or "cancelling"
    status: str
    created_at: datetime
    heartbeat_at: datetime | None
    attempts: int
    error: str
    url: str | None

    @property
    def retryable(self) -> bool:
        return self.state in ("failed", "stuck")


def job_model(kind: str) -> type[Job] | None:
    """The registered job model named `kind`, or None."""
    return next((model for model in JOB_TASKS if model.__name__ == kind), None)


def _page(model: type[Job], pk: int) -> str | None:
    name, argument = PAGES.get(model.__name__, (None, None))
    if name is None:
        return None
    try:
        return reverse(name, kwargs={argument: pk})
    except NoReverseMatch:
        return None


def _states() -> list[tuple[str, Q]]:
    now = timezone.now()
    return [
        ("stuck", stale() & Q(cancel_requested=False)),
        ("cancelling", stale() & Q(cancel_requested=True)),
        ("failed", Q(status=JobStatus.FAILED, finished_at__gte=now - FAILED_SHOWN_FOR)),
        ("waiting", Q(status=JobStatus.QUEUED, created_at__lt=now - WAITING_AFTER)),
    ]


def _rows(model: type[Job], state: str, condition: Q) -> QuerySet:
    return (
        model.objects.filter(condition)
        .order_by("-created_at")
        .values("pk", "status", "created_at", "heartbeat_at", "attempts", "error")[:ROWS_PER_KIND]
    )


def jobs_needing_attention() -> list[JobRow]:
    """Stuck first (nothing will move them but the recovery or a retry), then failed,
    then waiting; newest first within each."""
    rows: list[JobRow] = []
    for state, condition in _states():
        for model in JOB_TASKS:
            label = LABELS.get(model.__name__) or str(model._meta.verbose_name).capitalize()
            rows += [
                JobRow(
                    kind=model.__name__,
                    label=label,
                    pk=row["pk"],
                    state=state,
                    status=row["status"],
                    created_at=row["created_at"],
                    heartbeat_at=row["heartbeat_at"],
                    attempts=row["attempts"],
                    error=row["error"],
                    url=_page(model, row["pk"]),
                )
                for row in _rows(model, state, condition)
            ]
    return rows
