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

from jobs.leases import leased
from jobs.services import BrokerUnavailable, task_publish
from labeling.models import Task
from rankings.models import RANKING, Comparison
from rankings.priority import priorities_refresh, uncertainty_of
from sources.client import SourceError
from sources.own_server import Item, own_scores
from trainer.best_of import reward_kept
from trainer.ml.methods import REWARD
from trainer.models import ModelVersion

SCORE_TASK = "trainer.tasks.score_comparisons"
# Comparisons scored and written together: a worker stopped mid-pass loses one chunk.
CHUNK = 32
# A pass stops taking chunks after this long and sends the next pass, so it never holds
# a slot of the default worker for long.
PASS_S = 60.0
PASS_LEASE = "comparison-scoring"

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
    some are still due (the pass ran out of time). One pass at a time: a pass asked for
    while another runs does nothing, as the running one takes what is due."""
    version = ModelVersion.objects.promoted(REWARD)
    if version is None:
        return 0, False
    # Long enough for the last chunk begun before the deadline and its fallback.
    with leased(PASS_LEASE, seconds * 4) as held:
        if not held:
            return 0, False
        deadline = time.monotonic() + seconds
        scored = 0
        while time.monotonic() < deadline:
            chunk = list(
                comparisons_due(version)
                .select_related("prompt")
                .prefetch_related("candidates")[:CHUNK]
            )
            if not chunk:
                return scored, False
            scored += _chunk_score(version, chunk, deadline)
        return scored, comparisons_due(version).exists()


def _inference_down(exc: SourceError) -> bool:
    """No answer, too busy (429), or a gateway's or its own refusal to serve (502, 503:
    the model cannot be loaded, 504): nothing is wrong with the comparisons asked about.
    A 500 is a failure to score what was asked, which may be one comparison's fault."""
    return exc.retryable and exc.status != 500


def _chunk_score(version: ModelVersion, chunk: list[Comparison], deadline: float) -> int:
    """Scores and stores the chunk; how many were stored. Raises SourceError when the
    inference process is down (the pass fails, and beat's next one retries)."""
    try:
        found = _scores(version, chunk)
    except SourceError as exc:
        if _inference_down(exc):
            raise
        # One comparison the model cannot read (refused, or it failed on it): the others
        # are scored one by one, as long as the pass has time.
        found, failed = {}, []
        for comparison in chunk:
            if time.monotonic() > deadline:
                break
            try:
                found.update(_scores(version, [comparison]))
            except SourceError as one:
                if _inference_down(one):
                    raise
                failed.append(one)
                logger.warning(
                    "comparison %s: the reward model could not score it: %s", comparison.pk, one
                )
                found[comparison.pk] = {}  # kept as scored by this model, its uncertainty unknown
        if failed and len(failed) == len(found) and not _reads_anything(version):
            # The model is broken, not the data: marking the comparisons scored would
            # hide that until the next promotion. The pass fails, and beat tries again.
            raise RuntimeError("The promoted reward model scores nothing") from failed[0]
    done = [comparison for comparison in chunk if comparison.pk in found]
    for comparison in done:
        known = [s for s in found[comparison.pk].values() if s is not None]
        comparison.reward_scores = found[comparison.pk]
        comparison.uncertainty = uncertainty_of(known)
        comparison.scored_by = version.pk
    Comparison.objects.bulk_update(done, ["reward_scores", "uncertainty", "scored_by"])
    priorities_refresh(comparison_ids=[c.pk for c in done])
    return len(done)


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
    scores = _asked(version, texts)
    found: dict[int, dict[str, float | None]] = {c.pk: {} for c in comparisons}
    for (comparison_id, candidate_id), score in zip(owners, scores, strict=True):
        found[comparison_id][str(candidate_id)] = None if score is None else reward_kept(score)
    return found


def _asked(version: ModelVersion, items: list[Item]) -> list[float | None]:
    # Once, and no longer than a pass: a pass that cannot get an answer fails, and beat's
    # next one asks again, so a slot of the default worker is never held for minutes.
    return own_scores(version.pk, items, timeout_s=PASS_S, attempts=1)


def scoring_send() -> None:
    """Ask a worker for a scoring pass now; if the broker is down, beat's next pass does it."""
    with contextlib.suppress(BrokerUnavailable):
        task_publish(SCORE_TASK)
