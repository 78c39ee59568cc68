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
from collections.abc import Iterable
from dataclasses import dataclass

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
# Pairs per request of a pass: seconds of work for the inference process's thread that
# scores them, even with a reward model far larger than the default, so a request it
# answers after the pass gave up wastes little there.
PASS_PER_REQUEST = 16
# Comparisons scored and written together: as many as one request's pairs hold (each has
# two replies or more), so a chunk begun before the pass's time ran out is one request,
# which has the grace below to finish in; a worker stopped mid-pass loses one chunk.
CHUNK = PASS_PER_REQUEST // 2
# A pass stops taking chunks after this long and sends the next pass, so it never holds
# a slot of the default worker for long.
PASS_S = 60.0
# How long a chunk begun before the pass's time ran out may take to finish: no request
# of a pass waits past it, so a pass never outlives its lease.
PASS_GRACE_S = 60.0
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
    if ModelVersion.objects.promoted(REWARD) is None:
        return 0, False
    # Held past the last request's deadline, with time to write what it answered: no
    # other pass starts while this one may still write.
    with leased(PASS_LEASE, seconds + 2 * PASS_GRACE_S) as held:
        if not held:
            return 0, False
        started = time.monotonic()
        time_out = Deadlines(soft=started + seconds, hard=started + seconds + PASS_GRACE_S)
        scored = 0
        while time.monotonic() < time_out.soft:
            # Read for every chunk: after a promotion during the pass (whose own pass
            # found this one running and did nothing), the new model scores the rest.
            version = ModelVersion.objects.promoted(REWARD)
            if version is None:
                return scored, False
            chunk = _one_request(
                comparisons_due(version)
                .select_related("prompt")
                .prefetch_related("candidates")[:CHUNK]
            )
            if not chunk:
                return scored, False
            scored += _chunk_score(version, chunk, time_out)
        version = ModelVersion.objects.promoted(REWARD)
        return scored, version is not None and comparisons_due(version).exists()


def _one_request(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """The first of `comparisons` whose replies one request of a pass carries; at least
    one, which a request carries alone however many replies it has."""
    taken: list[Comparison] = []
    replies = 0
    for comparison in comparisons:
        count = len(comparison.candidates.all())
        if taken and replies + count > PASS_PER_REQUEST:
            break
        taken.append(comparison)
        replies += count
    return taken


@dataclass(frozen=True)
class Deadlines:
    """time.monotonic() values: no chunk begins after `soft`, no request waits past `hard`."""

    soft: float
    hard: float


def _pass_fails(exc: SourceError) -> bool:
    """Whether the inference process cannot score anything now, so the pass fails and
    leaves every comparison due for beat's next one: no answer, or one too late, 401 or
    403 (the platform's key refused), 404 (the model gone), 429, 502, 503 (the model
    cannot be loaded), 504. Only a 400 (what was asked is refused), a 413 (a comparison
    too large for any request) or a 500 (scoring it failed) may be one comparison's
    fault."""
    return exc.status not in (400, 413, 500)


def _chunk_score(version: ModelVersion, chunk: list[Comparison], time_out: Deadlines) -> int:
    """Scores and stores the chunk; how many were stored. Raises SourceError when the
    inference process cannot score (the pass fails, and beat's next one retries)."""
    try:
        found = _scores(version, chunk, time_out.hard)
    except SourceError as exc:
        if _pass_fails(exc):
            raise
        # One comparison the model cannot read (refused, or it failed on it): the others
        # are scored one by one, as long as the pass has time.
        found, failed = {}, []
        for comparison in chunk:
            if time.monotonic() > time_out.soft:
                break
            try:
                found.update(_scores(version, [comparison], time_out.hard))
            except SourceError as one:
                if _pass_fails(one):
                    raise
                failed.append(one)
                logger.warning(
                    "comparison %s: the reward model could not score it: %s", comparison.pk, one
                )
                found[comparison.pk] = {}  # kept as scored by this model, its uncertainty unknown
        if failed and len(failed) == len(found) and not _reads_anything(version, time_out):
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


def _reads_anything(version: ModelVersion, time_out: Deadlines) -> bool:
    plain = [([{"role": "user", "content": "Hello."}], "Hello! How can I help?")]
    try:
        _asked(version, plain, time_out.hard)
    except SourceError as exc:
        if _pass_fails(exc):
            raise
        return False
    return True


def _scores(
    version: ModelVersion, comparisons: list[Comparison], hard: float
) -> dict[int, dict[str, float | None]]:
    """{comparison id: {candidate id: score}} for the comparisons' candidates, from the
    inference process, which scores them in batches."""
    texts, owners = [], []
    for comparison in comparisons:
        for candidate in comparison.candidates.all():
            texts.append((comparison.prompt.messages, candidate.content))
            owners.append((comparison.pk, candidate.pk))
    scores = _asked(version, texts, hard)
    found: dict[int, dict[str, float | None]] = {c.pk: {} for c in comparisons}
    for (comparison_id, candidate_id), score in zip(owners, scores, strict=True):
        found[comparison_id][str(candidate_id)] = None if score is None else reward_kept(score)
    return found


def _asked(version: ModelVersion, items: list[Item], hard: float) -> list[float | None]:
    # Once, and never past the pass's hard deadline: a pass that cannot get an answer
    # fails, and beat's next one asks again, so a slot of the default worker is never
    # held for minutes.
    return own_scores(
        version.pk,
        items,
        timeout_s=PASS_S,
        attempts=1,
        per_request=PASS_PER_REQUEST,
        deadline=hard,
    )


def scoring_send() -> None:
    """Ask a worker for a scoring pass now; if the broker is down, beat's next pass does it."""
    with contextlib.suppress(BrokerUnavailable):
        task_publish(SCORE_TASK)
