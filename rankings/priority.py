"""The ranking queue's priority: spend each human ranking where it teaches most.

A ranking task's priority adds three parts, the first two weighted per guideline
(QueuePriority), the third at one rate for all (RANKING_PRIORITY_PER_DAY):

- **uncertainty** of the promoted reward model: twice the mean, over every two candidates,
  of its own probability of ordering them wrong (sigmoid(-|score gap|)): 1 when it cannot
  tell any two apart, near 0 when it separates every pair by many logits. For two
  candidates, 2 * sigmoid(-gap). The mean rather than the closest pair: the closest of
  K(K-1)/2 gaps shrinks as K grows whatever the model knows, which put every K-wise
  comparison ahead of every pair (benchmarks/active_collection.py showed it). From the
  one model already promoted, scored once per comparison in a worker, rather than an
  ensemble's spread, which would train several reward models on bootstrap resamples at
  every promotion.
  Unscored (no reward model yet, or not reached by the worker) counts as 1: a model that
  has not seen a comparison cannot vouch for it.
- **disagreement** of the raters so far: 1 - their pairwise agreement, once two ranked.
- **age**: per day waited, so a task the model is sure of is still ranked in the end.

The age part grows by the same amount for every task, so it is stored as -rate x days
since a fixed origin: ordering by the stored number is ordering by the priority at any
moment, across guidelines too (the queue mixes the guidelines a person has read), and
nothing needs rewriting as time passes. `priority_now` adds the common part back.

"Oldest first" gives every task of a guideline the priority of a comparison nobody has
scored or ranked under the default weights: they go out by age alone, and beside other
guidelines' tasks as new, unscored ones would.

Within a guideline, tasks of equal priority go out started work first; in practice the
age part makes priorities distinct, so a comparison one rater ranked waits by its own
priority like any other (once two have ranked, their disagreement raises it).
"""

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from itertools import combinations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.models import Task
from rankings.models import RANKING, Comparison, QueuePriority

AGE_ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)
DAY_S = 86_400
UNSCORED = 1.0
# At or above this the model's odds on a pair are at most 3 to 1 (a gap of ln 3, about
# 1.1 logits), on average over a K-wise comparison's pairs: what the dashboard counts as
# a high-uncertainty task.
HIGH_UNCERTAINTY = 0.5
REFRESH_BATCH = 500


def uncertainty_of(scores: Iterable[float]) -> float | None:
    """2 * the mean of sigmoid(-|gap|) over every two of `scores`; None if fewer than two
    are finite."""
    finite = [s for s in scores if isinstance(s, int | float) and math.isfinite(s)]
    if len(finite) < 2:
        return None
    # 2 * sigmoid(-gap) = 2 / (1 + e^gap); past 700 logits e^gap overflows a float: 0.
    each = [
        2.0 / (1.0 + math.exp(abs(a - b))) if abs(a - b) < 700 else 0.0
        for a, b in combinations(finite, 2)
    ]
    return sum(each) / len(each)


def disagreement_of(agreement: Mapping[str, object] | None, ranking_count: int) -> float:
    value = (agreement or {}).get("pairwise_agreement")
    if ranking_count < 2 or not isinstance(value, int | float):
        return 0.0
    return min(1.0, max(0.0, 1.0 - float(value)))


def per_day() -> float:
    return settings.RANKING_PRIORITY_PER_DAY


def weights_for(guideline_id: int) -> QueuePriority:
    """The guideline's saved weights, or the defaults (an unsaved row) when none are."""
    found = QueuePriority.objects.filter(guideline_id=guideline_id).first()
    return found or QueuePriority(guideline_id=guideline_id)


def priority_of(
    weights: QueuePriority,
    *,
    uncertainty: float | None,
    agreement: Mapping[str, object] | None,
    ranking_count: int,
    created_at: datetime,
) -> float:
    waited_from_origin = (created_at - AGE_ORIGIN).total_seconds() / DAY_S
    age_part = -per_day() * waited_from_origin
    if weights.order == QueuePriority.Order.OLDEST:
        return QueuePriority().weight_uncertainty * UNSCORED + age_part
    certainty_part = weights.weight_uncertainty * (UNSCORED if uncertainty is None else uncertainty)
    disagreement_part = weights.weight_disagreement * disagreement_of(agreement, ranking_count)
    return certainty_part + disagreement_part + age_part


def priority_now(stored: float, now: datetime | None = None) -> float:
    """The stored priority with the age part every task shares added back: what it is now."""
    days = ((now or timezone.now()) - AGE_ORIGIN).total_seconds() / DAY_S
    return stored + per_day() * days


def comparison_priority(comparison: Comparison, weights: QueuePriority | None = None) -> float:
    return priority_of(
        weights or weights_for(comparison.task.guideline_id),
        uncertainty=comparison.uncertainty,
        agreement=comparison.agreement,
        ranking_count=comparison.ranking_count,
        created_at=comparison.created_at,
    )


def priorities_refresh(
    *, comparison_ids: Iterable[int] | None = None, guideline_id: int | None = None
) -> int:
    """Store the priority of the open ranking tasks of these comparisons, or of all of a
    guideline's; answers how many were written.

    Each batch locks its comparison rows while it reads and writes: a ranking submit and
    a scoring pass change a comparison under the same lock, so neither's newer numbers are
    overwritten by a refresh that read them before.
    """
    rows = Comparison.objects.filter(task__kind=RANKING, task__status=Task.Status.OPEN)
    if comparison_ids is not None:
        rows = rows.filter(pk__in=list(comparison_ids))
    if guideline_id is not None:
        rows = rows.filter(task__guideline_id=guideline_id)
    ids = list(rows.order_by("pk").values_list("pk", flat=True))
    weights: dict[int, QueuePriority] = {}
    for start in range(0, len(ids), REFRESH_BATCH):
        with transaction.atomic():
            _batch_refresh(ids[start : start + REFRESH_BATCH], weights)
    return len(ids)


def _batch_refresh(ids: list[int], weights: dict[int, QueuePriority]) -> None:
    locked = Comparison.objects.select_for_update(of=("self",)).filter(pk__in=ids)
    fields = ("task_id", "task__guideline_id", "uncertainty", "agreement", "ranking_count")
    tasks = []
    for row in locked.order_by("pk").values(*fields, "created_at"):
        guideline = row["task__guideline_id"]
        if guideline not in weights:
            weights[guideline] = weights_for(guideline)
        value = priority_of(
            weights[guideline],
            uncertainty=row["uncertainty"],
            agreement=row["agreement"],
            ranking_count=row["ranking_count"],
            created_at=row["created_at"],
        )
        tasks.append(Task(pk=row["task_id"], priority=value))
    # A task closed since it was listed gets its number too: harmless, the queue never
    # reads a closed task's priority.
    Task.objects.bulk_update(tasks, ["priority"], batch_size=500)
