"""The promoted reward model's scores of open comparisons, for the ranking queue's
priority (rankings/priority.py): computed in a worker, never in a request.

A comparison is scored once per promoted reward model (`Comparison.scored_by`), so a
promotion makes every open comparison due again, and a new or imported one is due from
the start. The work is found from that column alone, which makes it idempotent and
self-healing: a worker killed mid-batch leaves its comparisons due, and the next pass
(sent after a promotion and after generation, and by beat every minute) takes them.
"""

from __future__ import annotations

import contextlib
import math

from django.conf import settings

from jobs.services import BrokerUnavailable, task_publish
from labeling.models import Task
from rankings.models import RANKING, Comparison
from rankings.priority import priorities_refresh, uncertainty_of
from trainer.ml.methods import REWARD
from trainer.models import ModelVersion

SCORE_TASK = "trainer.tasks.score_comparisons"
# Comparisons per pass: a pass that finds this many due sends the next one.
BATCH = 500

# The last reward model loaded in this process: scoring passes come every minute and
# reloading the weights each time would cost more than the scoring.
_loaded: dict[str, object] = {}


def comparisons_due(version: ModelVersion):  # type: ignore[no-untyped-def]
    """Open ranking comparisons `version` has not scored, oldest first."""
    return (
        Comparison.objects.filter(task__kind=RANKING, task__status=Task.Status.OPEN)
        .exclude(scored_by=version.pk)
        .order_by("pk")
    )


def comparisons_score(*, limit: int = BATCH) -> int:
    """Score up to `limit` due comparisons with the promoted reward model and store their
    uncertainty and their tasks' priority; answers how many were scored."""
    version = ModelVersion.objects.promoted(REWARD)
    if version is None:
        return 0
    due = list(
        comparisons_due(version).select_related("prompt").prefetch_related("candidates")[:limit]
    )
    if not due:
        return 0
    texts, owners = [], []
    for comparison in due:
        for candidate in comparison.candidates.all():
            texts.append((comparison.prompt.messages, candidate.content))
            owners.append((comparison, candidate.pk))
    scores = _scorer(version).scores(texts).tolist()
    found: dict[int, dict[str, float | None]] = {c.pk: {} for c in due}
    for (comparison, candidate_id), score in zip(owners, scores, strict=True):
        # JSON (and jsonb) holds no NaN: a broken model's score is kept as unknown.
        found[comparison.pk][str(candidate_id)] = round(score, 6) if math.isfinite(score) else None
    for comparison in due:
        comparison.reward_scores = found[comparison.pk]
        comparison.uncertainty = uncertainty_of(
            s for s in found[comparison.pk].values() if s is not None
        )
        comparison.scored_by = version.pk
    Comparison.objects.bulk_update(
        due, ["reward_scores", "uncertainty", "scored_by"], batch_size=500
    )
    priorities_refresh(comparison_ids=[c.pk for c in due])
    return len(due)


def _scorer(version: ModelVersion):  # type: ignore[no-untyped-def]
    from trainer.ml.reward import RewardScorer

    folder = f"{settings.DATA_DIR}/{version.path}"
    if folder not in _loaded:
        _loaded.clear()
        _loaded[folder] = RewardScorer(folder)
    return _loaded[folder]


def scoring_send() -> None:
    """Ask a worker for a scoring pass now; if the broker is down, beat's next pass does it."""
    with contextlib.suppress(BrokerUnavailable):
        task_publish(SCORE_TASK)
