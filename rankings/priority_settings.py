"""The admin's side of the ranking queue's priority: weights per guideline, and what the
queue holds and where last week's rankings went (rankings/priority.py has the formula)."""

import math
import statistics
from datetime import datetime, timedelta
from itertools import pairwise

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from config.errors import InputError
from config.publish import task_publish
from guidelines.models import Guideline
from labeling.models import Task
from rankings.models import RANKING, Comparison, QueuePriority, Ranking
from rankings.priority import HIGH_UNCERTAINTY, priority_now, weights_for

WEIGHTS = ("weight_uncertainty", "weight_disagreement", "weight_age")
MAX_WEIGHT = 100.0
REFRESH_TASK = "rankings.tasks.priorities_refresh"
# Upper edges of the uncertainty histogram's bars.
UNCERTAINTY_BARS = (0.2, 0.4, 0.6, 0.8, 1.0)
RECENT_DAYS = 7


def recent_since() -> datetime:
    return timezone.now() - timedelta(days=RECENT_DAYS)


def _weight_checked(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(field, f"A number from 0 to {MAX_WEIGHT:g}.")
    try:
        number = float(value)
    except ValueError:
        raise InputError(field, f"A number from 0 to {MAX_WEIGHT:g}.") from None
    if not math.isfinite(number) or not 0 <= number <= MAX_WEIGHT:
        raise InputError(field, f"A number from 0 to {MAX_WEIGHT:g}.")
    return number


def queue_priority_set(
    *, guideline: Guideline, changes: dict[str, object], user: AbstractBaseUser
) -> QueuePriority:
    """Save the guideline's order and weights (those given; the rest kept) and have a
    worker re-order its open ranking tasks. If the job queue does not answer, nothing is
    saved: weights that never reach the queue's order would say what is not so."""
    unknown = set(changes) - {"order", *WEIGHTS}
    if unknown:
        raise InputError(sorted(unknown)[0], "Not a setting of the queue's priority.")
    with transaction.atomic():
        row = QueuePriority.objects.select_for_update().filter(guideline=guideline).first()
        row = row or QueuePriority(guideline=guideline)
        if "order" in changes:
            if changes["order"] not in QueuePriority.Order.values:
                raise InputError("order", f"One of {', '.join(QueuePriority.Order.values)}.")
            row.order = changes["order"]
        for field in WEIGHTS:
            if field in changes:
                setattr(row, field, _weight_checked(changes[field], field))
        row.updated_by = user
        row.save()
        task_publish(REFRESH_TASK, args=[guideline.pk])
    return row


def queue_priority_report() -> list[dict[str, object]]:
    """Per guideline: its settings, the open tasks' uncertainty and
    priority, and last week's rankings on high-uncertainty tasks."""
    open_tasks = Comparison.objects.filter(task__kind=RANKING, task__status=Task.Status.OPEN)
    counts = dict(open_tasks.values_list("task__guideline_id").annotate(n=Count("pk")).order_by())
    recent = Ranking.objects.filter(created_at__gte=recent_since(), comparison__evaluation=False)
    recent_counts = {
        row["comparison__task__guideline_id"]: row
        for row in recent.values("comparison__task__guideline_id")
        .annotate(
            n=Count("pk"),
            high=Count("pk", filter=Q(comparison__uncertainty__gte=HIGH_UNCERTAINTY)),
            scored=Count("pk", filter=Q(comparison__uncertainty__isnull=False)),
        )
        .order_by()
    }
    report = []
    for guideline in Guideline.objects.all():
        weights = weights_for(guideline.pk)
        mine = open_tasks.filter(task__guideline=guideline)
        last_week = recent_counts.get(guideline.pk, {"n": 0, "high": 0, "scored": 0})
        report.append(
            {
                "guideline": guideline.pk,
                "slug": guideline.slug,
                "title": guideline.title,
                "order": weights.order,
                **{field: getattr(weights, field) for field in WEIGHTS},
                "saved": weights.pk is not None,
                "open_tasks": counts.get(guideline.pk, 0),
                **_uncertainty_figures(mine),
                "priority": _priority_figures(weights, mine),
                "last_week": {
                    "rankings": last_week["n"],
                    "scored": last_week["scored"],
                    "high_uncertainty": last_week["high"],
                    "high_uncertainty_share": (
                        last_week["high"] / last_week["scored"] if last_week["scored"] else None
                    ),
                },
            }
        )
    return report


def _uncertainty_figures(comparisons) -> dict[str, object]:  # type: ignore[no-untyped-def]
    edges = (0.0, *UNCERTAINTY_BARS)
    bars = {
        f"bar{i}": Count(
            "pk",
            filter=Q(uncertainty__gte=low)
            & (Q(uncertainty__lt=high) if high < 1.0 else Q(uncertainty__lte=high)),
        )
        for i, (low, high) in enumerate(pairwise(edges))
    }
    found = comparisons.aggregate(unscored=Count("pk", filter=Q(uncertainty__isnull=True)), **bars)
    return {
        "unscored": found["unscored"],
        "uncertainty_bars": [
            {"from": low, "to": high, "tasks": found[f"bar{i}"]}
            for i, (low, high) in enumerate(pairwise(edges))
        ],
    }


def _priority_figures(weights: QueuePriority, comparisons) -> dict[str, float] | None:  # type: ignore[no-untyped-def]
    stored = list(comparisons.values_list("task__priority", flat=True)[:100_000])
    if not stored:
        return None
    now = timezone.now()
    values = sorted(priority_now(weights, value, now) for value in stored)
    return {
        "lowest": round(values[0], 3),
        "median": round(statistics.median(values), 3),
        "highest": round(values[-1], 3),
    }


def queue_priority_summary(recent: QuerySet[Ranking] | None = None) -> dict[str, object]:
    """The dashboard's line on the ranking queue, over every guideline: two aggregates.
    `recent`: the last week's rankings, if the caller can find them faster than by date."""
    open_tasks = Comparison.objects.filter(
        task__kind=RANKING, task__status=Task.Status.OPEN
    ).aggregate(
        open=Count("pk"),
        unscored=Count("pk", filter=Q(uncertainty__isnull=True)),
        high=Count("pk", filter=Q(uncertainty__gte=HIGH_UNCERTAINTY)),
    )
    if recent is None:
        recent = Ranking.objects.filter(created_at__gte=recent_since())
    counted = recent.filter(comparison__evaluation=False).aggregate(
        scored=Count("pk", filter=Q(comparison__uncertainty__isnull=False)),
        high=Count("pk", filter=Q(comparison__uncertainty__gte=HIGH_UNCERTAINTY)),
    )
    scored, high = counted["scored"], counted["high"]
    return {
        **open_tasks,
        "last_week_scored": scored,
        "last_week_high": high,
        "last_week_high_share": high / scored if scored else None,
    }
