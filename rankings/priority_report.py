"""Reads for the ranking queue's priority: each guideline's settings, its open tasks by
the reward model's uncertainty, and where the last week's rankings went."""

from datetime import datetime, timedelta
from itertools import pairwise

from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from guidelines.models import Guideline
from labeling.models import Task
from rankings.models import RANKING, Comparison, QueuePriority, Ranking
from rankings.priority import HIGH_UNCERTAINTY, priority_now

# Upper edges of the uncertainty histogram's bars.
UNCERTAINTY_BARS = (0.2, 0.4, 0.6, 0.8, 1.0)
RECENT_DAYS = 7


def recent_since() -> datetime:
    return timezone.now() - timedelta(days=RECENT_DAYS)


def _open_comparisons() -> QuerySet[Comparison]:
    return Comparison.objects.filter(task__kind=RANKING, task__status=Task.Status.OPEN)


def _bars() -> dict[str, Count]:
    edges = (0.0, *UNCERTAINTY_BARS)
    return {
        f"bar{i}": Count(
            "pk",
            filter=Q(uncertainty__gte=low)
            & (Q(uncertainty__lt=high) if high < 1.0 else Q(uncertainty__lte=high)),
        )
        for i, (low, high) in enumerate(pairwise(edges))
    }


def queue_priority_report(guideline_id: int | None = None) -> list[dict[str, object]]:
    """Per guideline (or the one asked for): its settings, its open ranking tasks by
    uncertainty and their priority now, and the last week's rankings on unsure tasks.
    A few grouped queries, whatever the number of guidelines."""
    guidelines = Guideline.objects.all()
    if guideline_id is not None:
        guidelines = guidelines.filter(pk=guideline_id)
    saved = {row.guideline_id: row for row in QueuePriority.objects.all()}
    opened = {
        row["task__guideline_id"]: row
        for row in _open_comparisons()
        .values("task__guideline_id")
        .annotate(
            n=Count("pk"),
            unscored=Count("pk", filter=Q(uncertainty__isnull=True)),
            lowest=Min("task__priority"),
            highest=Max("task__priority"),
            **_bars(),
        )
        .order_by()
    }
    recent = {
        row["comparison__task__guideline_id"]: row
        for row in Ranking.objects.filter(created_at__gte=recent_since())
        .filter(comparison__evaluation=False)
        .values("comparison__task__guideline_id")
        .annotate(
            n=Count("pk"),
            scored=Count("pk", filter=Q(uncertainty__isnull=False)),
            high=Count("pk", filter=Q(uncertainty__gte=HIGH_UNCERTAINTY)),
        )
        .order_by()
    }
    now = timezone.now()
    edges = (0.0, *UNCERTAINTY_BARS)
    report = []
    for guideline in guidelines:
        weights = saved.get(guideline.pk) or QueuePriority(guideline=guideline)
        tasks = opened.get(guideline.pk, {})
        week = recent.get(guideline.pk, {"n": 0, "scored": 0, "high": 0})
        report.append(
            {
                "guideline": guideline.pk,
                "slug": guideline.slug,
                "title": guideline.title,
                "order": weights.order,
                "weight_uncertainty": weights.weight_uncertainty,
                "weight_disagreement": weights.weight_disagreement,
                "saved": weights.pk is not None,
                "reordered": weights.pk is None or weights.applied_at == weights.updated_at,
                "open_tasks": tasks.get("n", 0),
                "unscored": tasks.get("unscored", 0),
                "uncertainty_bars": [
                    {"from": low, "to": high, "tasks": tasks.get(f"bar{i}", 0)}
                    for i, (low, high) in enumerate(pairwise(edges))
                ],
                "priority": {
                    "lowest": round(priority_now(tasks["lowest"], now), 3),
                    "highest": round(priority_now(tasks["highest"], now), 3),
                }
                if tasks
                else None,
                "last_week": {
                    "rankings": week["n"],
                    "scored": week["scored"],
                    "high_uncertainty": week["high"],
                    "high_uncertainty_share": week["high"] / week["scored"]
                    if week["scored"]
                    else None,
                },
            }
        )
    return report


def queue_priority_summary(recent: QuerySet[Ranking] | None = None) -> dict[str, object]:
    """The dashboard's line on the ranking queue, over every guideline: two aggregates.
    `recent`: the last week's rankings, if the caller can find them faster than by date."""
    open_tasks = _open_comparisons().aggregate(
        open=Count("pk"),
        unscored=Count("pk", filter=Q(uncertainty__isnull=True)),
        high=Count("pk", filter=Q(uncertainty__gte=HIGH_UNCERTAINTY)),
    )
    if recent is None:
        recent = Ranking.objects.filter(created_at__gte=recent_since())
    # Where the queue sent each ranking: the uncertainty when it was made, not today's.
    counted = recent.filter(comparison__evaluation=False).aggregate(
        scored=Count("pk", filter=Q(uncertainty__isnull=False)),
        high=Count("pk", filter=Q(uncertainty__gte=HIGH_UNCERTAINTY)),
    )
    scored, high = counted["scored"], counted["high"]
    return {
        **open_tasks,
        "last_week_scored": scored,
        "last_week_high": high,
        "last_week_high_share": high / scored if scored else None,
    }
