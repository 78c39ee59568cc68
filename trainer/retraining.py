"""Scheduled retraining: a method's run starts by itself once enough new data of the
kind its fresh snapshot reads has arrived since its last run (the threshold is the Django
setting its registry entry names), from the built-in model or the promoted model its
base must be."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings

from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from labeling.models import Demonstration
from rankings.models import Ranking
from trainer.ml.methods import METHODS, TrainingMethod, training_methods
from trainer.models import ModelVersion, TrainingRun
from trainer.training import training_run_create


def _demonstrations_approved_since(since: datetime) -> int:
    return Demonstration.objects.filter(
        status=Demonstration.Status.APPROVED, updated_at__gt=since
    ).count()


def _rankings_since(since: datetime) -> int:
    # An evaluation's comparisons are no training data (exports leave them out).
    return Ranking.objects.filter(created_at__gt=since, comparison__evaluation=False).count()


# What the scheduled retraining counts for a method, by the kind of snapshot its fresh
# export makes: the rows that export would read that arrived since a time.
ROWS_ARRIVED_SINCE: dict[str, Callable[[datetime], int]] = {
    DatasetSnapshot.Kind.SFT: _demonstrations_approved_since,
    DatasetSnapshot.Kind.RANKINGS: _rankings_since,
}


def runs_start_when_enough_data() -> list[TrainingRun]:
    """The scheduled retraining: a run of each method whose new data passed its threshold
    (the setting its `retrain_setting` names) since that method's last run, unless one is
    already queued or running."""
    started = []
    for method in training_methods():
        if not method.retrain_setting:
            continue
        threshold = getattr(settings, method.retrain_setting)
        arrived = ROWS_ARRIVED_SINCE[method.snapshot_kinds[0]]
        runs = TrainingRun.objects.filter(kind=method.name)
        if runs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
            continue
        base = _scheduled_base(method)
        if base is None:
            continue
        last = runs.order_by("-created_at").first()
        since = last.created_at if last else datetime(1970, 1, 1, tzinfo=UTC)
        if arrived(since) >= threshold:
            started.append(training_run_create(kind=method.name, base_model=base))
    return started


def _scheduled_base(method: TrainingMethod) -> str | None:
    """What a scheduled run starts from: the built-in model, or for a method that tunes a
    model of some product further (DPO: a policy) the promoted one's first ancestor not
    itself tuned so, the SFT model under a promoted DPO policy. A DPO run must be referenced
    to the SFT model, not stacked on the last DPO run. None while none is promoted."""
    if method.starts_from is None:
        return ""
    version = ModelVersion.objects.promoted(method.starts_from)
    chain = version.lineage() if version else []
    for ancestor in chain:
        made_by = METHODS.get(ancestor.kind)
        if made_by is None or made_by.starts_from is None:
            return f"model:{ancestor.pk}"
    # Tuned from a directory all the way down: the first of ours is the start.
    return f"model:{chain[-1].pk}" if chain else None
