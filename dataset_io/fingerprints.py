"""Whether an export would write what an earlier one wrote: a digest of the request (kind,
filters, options, defaults spelled out) and of the state of the labels it reads. A
scheduled export and a training run's fresh export reuse a published snapshot with the
same digest instead of writing the same bytes again.

The state is cheap aggregates that only move forward (how many rows, the newest id or
edit), so a digest never comes back once the data has changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max

from dataset_io.export_rows import AI, ALL, HUMAN, label_source
from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from labeling.models import Demonstration
from rankings.models import Ranking

# What every export takes when its request leaves an option out (the API spells these
# out): two requests that differ only so ask for the same files.
DEFAULT_OPTIONS = {"gzip": False, "pairs": "all", "validation_permille": 50}
# The state of AI labels per snapshot kind, from the app that keeps them (ai_feedback).
AI_STATES: dict[str, Callable[[], object]] = {}


def ai_state_register(kind: str, state: Callable[[], object]) -> None:
    AI_STATES[kind] = state


def people_state(kind: str) -> dict[str, object]:
    """Changes when people's rows are added, approved, revised or ranked."""
    if kind == DatasetSnapshot.Kind.SFT:
        return Demonstration.objects.filter(status=Demonstration.Status.APPROVED).aggregate(
            n=Count("id"), last=Max("updated_at")
        )
    # An evaluation's rankings are never exported by default: they change nothing.
    rankings = Ranking.objects.filter(comparison__evaluation=False)
    return rankings.aggregate(n=Count("id"), last=Max("id"))


def snapshot_fingerprint(kind: str, filters: dict, options: dict) -> str:
    source = label_source(filters)
    request = {
        "kind": kind,
        "filters": {k: v for k, v in filters.items() if not (k == "source" and v == HUMAN)},
        "options": {**DEFAULT_OPTIONS, **options},
    }
    state: dict[str, object] = {}
    if source in (HUMAN, ALL):
        state["people"] = people_state(kind)
    if source in (AI, ALL) and kind in AI_STATES:
        state["ai"] = AI_STATES[kind]()
    text = json.dumps({"request": request, "state": state}, default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def snapshot_reusable(kind: str, filters: dict, options: dict) -> DatasetSnapshot | None:
    """The newest published snapshot an export of this request would write again, with
    its files still there; None when the data changed since, or there is none."""
    fingerprint = snapshot_fingerprint(kind, filters, options)
    published = DatasetSnapshot.objects.filter(
        kind=kind, fingerprint=fingerprint, status=JobStatus.SUCCEEDED
    ).order_by("-id")
    for snapshot in published:
        if snapshot.files and all(
            (Path(settings.DATA_DIR) / path).exists() for path in snapshot.files.values()
        ):
            return snapshot
    return None
