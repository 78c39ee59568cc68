"""The promoted reward model's scores of open comparisons, for the ranking queue's
priority (rankings/priority.py): asked by a worker of the inference process, which keeps
the model loaded (serving.scoring), never in a request.

A comparison is scored once per promoted reward model (`Comparison.scored_by`), so a
promotion makes every open comparison due again, and a new or imported one is due from
the start. The work is found from that column alone, which makes it idempotent and
self-healing: a worker killed mid-batch leaves its comparisons due, and the next pass
(sent after a promotion and after generation, and by beat every minute) takes them.
"""

from __future__ import annotations

import contextlib
import logging
import time

from jobs.services import BrokerUnavailable, task_publish
from labeling.models import Task
from rankings.models import RANKING, Comparison
from rankings.priority import priorities_refresh, uncertainty_of
from sources.client import SourceError
from sources.own_server import own_scores
from trainer.best_of import reward_kept
from trainer.ml.methods import REWARD
from trainer.models import ModelVersion

SCORE_TASK = "trainer.tasks.score_comparisons"
# Comparisons scored and written together: a worker stopped mid-pass loses one chunk.
CHUNK = 32
# A pass stops taking chunks after this long and sends the next pass, so it never holds
# a slot of the default worker for long.
PASS_S = 60.0

logger = logging.getLogger(__name__)


def comparisons_due(version: ModelVersion):  # type: ignore[no-untyped-def]
    """Open ranking comparisons `version` has not scored, oldest first."""
    return (
        Comparison.objects.filter(task__kind=RANKING, task__status=Task.Status.OPEN)
        .exclude(scored_by=version.pk)
        .order_by("pk")
    )


def comparisons_score(*, seconds: float = PASS_S) -> tuple[int, bool]:
    """Score due comparisons with the promoted reward model, a chunk at a time, and store
    their uncertainty and their tasks' priority; answers how many were scored and whether
    some are still due (the pass ran out of time)."""
    version = ModelVersion.objects.promoted(REWARD)
    if version is None:
        return 0, False
    deadline = time.monotonic() + seconds
    scored = 0
    while time.monotonic() < deadline:
        chunk = list(
            comparisons_due(version).select_related("prompt").prefetch_related("candidates")[:CHUNK]
        )
        if not chunk:
            return scored, False
        _chunk_score(version, chunk)
        scored += len(chunk)
    return scored, comparisons_due(version).exists()


def _chunk_score(version: ModelVersion, chunk: list[Comparison]) -> None:
    try:
        found = _scores(version, chunk)
    except SourceError as exc:
        if exc.retryable:
            # The inference process is down, busy or cannot load the model: nothing here
            # is wrong with the comparisons. The pass fails, and beat's next one retries.
            raise
        # Refused (one comparison the model cannot read): the others must still be scored.
        found, failed = {}, []
        for comparison in chunk:
            try:
                found.update(_scores(version, [comparison]))
            except SourceError as one:
                if one.retryable:
                    raise
                failed.append(one)
                logger.warning(
                    "comparison %s: the reward model could not score it: %s", comparison.pk, one
                )
                found[comparison.pk] = {}  # kept as scored by this model, its uncertainty unknown
        if len(failed) == len(chunk) and not _reads_anything(version):
            # The model is broken, not the data: marking the comparisons scored would
            # hide that until the next promotion. The pass fails, and beat tries again.
            raise RuntimeError("The promoted reward model scores nothing") from failed[0]
    for comparison in chunk:
        known = [s for s in found[comparison.pk].values() if s is not None]
        comparison.reward_scores = found[comparison.pk]
        comparison.uncertainty = uncertainty_of(known)
        comparison.scored_by = version.pk
    Comparison.objects.bulk_update(chunk, ["reward_scores", "uncertainty", "scored_by"])
    priorities_refresh(comparison_ids=[c.pk for c in chunk])


def _reads_anything(version: ModelVersion) -> bool:
    try:
        own_scores(
            version.pk, [([{"role": "user", "content": "Hello."}], "Hello! How can I help?")]
        )
    except SourceError:
        return False
    return True


def _scores(
    version: ModelVersion, comparisons: list[Comparison]
) -> dict[int, dict[str, float | None]]:
    """{comparison id: {candidate id: score}} for the comparisons' candidates, from the
    inference process, which scores them in batches."""
    texts, owners = [], []
    for comparison in comparisons:
        for candidate in comparison.candidates.all():
            texts.append((comparison.prompt.messages, candidate.content))
            owners.append((comparison.pk, candidate.pk))
    scores = own_scores(version.pk, texts)
    found: dict[int, dict[str, float | None]] = {c.pk: {} for c in comparisons}
    for (comparison_id, candidate_id), score in zip(owners, scores, strict=True):
        found[comparison_id][str(candidate_id)] = None if score is None else reward_kept(score)
    return found


def scoring_send() -> None:
    """Ask a worker for a scoring pass now; if the broker is down, beat's next pass does it."""
    with contextlib.suppress(BrokerUnavailable):
        task_publish(SCORE_TASK)
