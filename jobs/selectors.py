"""Jobs of every kind that need an admin's eye: failed, stuck (running with a heartbeat
gone quiet) or waiting in the queue for long, with what the jobs page links and offers.

Read through the registry of job kinds (jobs.services.JOB_KINDS), so a kind added later
is listed without touching this module; one query per kind and state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.services import JOB_KINDS, stale

# A queued job older than this is shown as waiting: its worker is busy, stopped, or its
# queue is behind (a training run waits behind another for hours, which is normal).
WAITING_AFTER = timedelta(minutes=10)
# Failed jobs are shown for this long; older ones stay in each kind's own list.
FAILED_SHOWN_FOR = timedelta(days=14)
ROWS_PER_KIND = 50


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
    return next((model for model in JOB_KINDS if model.__name__ == kind), None)


def job_label(model: type[Job]) -> str:
    return JOB_KINDS[model].label


def _page(model: type[Job], pk: int) -> str | None:
    kind = JOB_KINDS[model]
    try:
        return reverse(kind.page, kwargs={kind.page_argument: pk})
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
        for model in JOB_KINDS:
            label = job_label(model)
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
