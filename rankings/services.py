"""Writes for rankings: comparisons, rankings, and the consensus stored with them."""

import random
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import IdempotencyKeyReused, InputError
from guidelines.selectors import version_current_published
from guidelines.services import NoPublishedVersion
from labeling.models import Prompt, Task
from labeling.queue import assignment_finish, assignment_held, task_open, task_record_imported
from labeling.services import version_worked_under
from labeling.validation import seconds_checked, text_checked
from rankings.agreement import (
    RatedRanking,
    krippendorff_alpha,
    pairwise_agreement,
    position_bias,
    unit_values,
)
from rankings.consensus import bradley_terry, ranked_pairs, ranking_pairs
from rankings.models import RANKING, Candidate, Comparison, Ranking
from rankings.priority import comparison_priority, priority_of, weights_for
from rankings.validation import (
    MAX_K,
    MIN_K,
    flags_checked,
    likert_checked,
    ranking_checked,
    strength_checked,
)

MAX_OVERLAP = 20


@transaction.atomic
def comparison_create(
    *,
    prompt: Prompt,
    candidates: Sequence[dict[str, object]],
    overlap: int = 3,
    gold: Sequence[Sequence[int]] | None = None,
    created_by: AbstractBaseUser | None = None,
    source: str = Candidate.Source.API,
    evaluation: bool = False,
) -> Comparison:
    """K = 2..9 candidates for `prompt`, queued for `overlap` raters; `evaluation` marks
    one an evaluation filed, which exports leave out.

    `gold`, for a gold task, orders the candidates by their index in `candidates`.
    Everyone who wrote one of the candidates is kept from ranking the set.
    """
    if not isinstance(candidates, list | tuple) or not MIN_K <= len(candidates) <= MAX_K:
        raise InputError("candidates", f"Between {MIN_K} and {MAX_K} candidates.")
    if type(overlap) is not int or not 1 <= overlap <= MAX_OVERLAP:
        raise InputError("overlap", f"Between 1 and {MAX_OVERLAP} raters.")
    made = []
    for index, item in enumerate(candidates):
        if not isinstance(item, dict):
            raise InputError(f"candidates[{index}]", "An object with 'content' and 'model'.")
        made.append(
            Candidate.objects.create(
                prompt=prompt,
                content=text_checked(item.get("content"), field=f"candidates[{index}].content"),
                model_name=str(item.get("model") or "")[:200],
                sampling=item.get("sampling") if isinstance(item.get("sampling"), dict) else {},
                source=item.get("source", source),
                author=item.get("author"),
            )
        )
    gold_ranking = []
    if gold:
        by_index = ranking_checked(gold, candidate_ids=set(range(len(made))))
        gold_ranking = [[made[i].pk for i in group] for group in by_index]
    task = task_open(
        kind=RANKING,
        prompt=prompt,
        wanted=overlap,
        excluded_user_ids={c.author_id for c in made if c.author_id},
        # Unscored and unranked: its place until a worker scores it with the reward model.
        priority=priority_of(
            weights_for(prompt.guideline_id),
            uncertainty=None,
            agreement=None,
            ranking_count=0,
            created_at=timezone.now(),
        ),
    )
    comparison = Comparison.objects.create(
        task=task,
        prompt=prompt,
        gold_ranking=gold_ranking,
        created_by=created_by,
        evaluation=evaluation,
    )
    comparison.candidates.set(made)
    return comparison


def shown_order(*, comparison: Comparison, rater_id: int) -> list[int]:
    """The rater's own random order of the candidates, the same on every page load."""
    ids = sorted(comparison.candidates.values_list("id", flat=True))
    random.Random(f"{comparison.pk}:{rater_id}").shuffle(ids)
    return ids


def ranking_submit(
    *,
    rater: AbstractBaseUser,
    comparison_id: int,
    ranking: object,
    flags: object = None,
    likert: object = None,
    all_bad: bool = False,
    rationale: str = "",
    strength: object = None,
    time_spent_s: int = 0,
    idempotency_key: str = "",
) -> tuple[Ranking, bool]:
    """Record a rater's ranking of a comparison they hold, and refresh its consensus.

    Submitting again returns the first ranking (one record per rater and comparison).
    """
    time_spent_s = seconds_checked(time_spent_s)
    if not isinstance(rationale, str) or len(rationale) > 10_000:
        raise InputError("rationale", "Text of at most 10,000 characters.")
    try:
        with transaction.atomic():
            return _ranking_submit(
                rater=rater,
                comparison_id=comparison_id,
                ranking=ranking,
                flags=flags,
                likert=likert,
                all_bad=bool(all_bad),
                rationale=rationale,
                strength=strength,
                time_spent_s=time_spent_s,
                idempotency_key=idempotency_key[:100],
            )
    except IntegrityError:
        earlier = Ranking.objects.filter(comparison_id=comparison_id, rater=rater).first()
        if earlier is None:
            raise
        return earlier, False


def _ranking_submit(
    *,
    rater,
    comparison_id,
    ranking,
    flags,
    likert,
    all_bad,
    rationale,
    strength,
    time_spent_s,
    idempotency_key,
):  # type: ignore[no-untyped-def]
    # Locked first by every rater, so consensus is recomputed one submission at a time.
    comparison = Comparison.objects.select_for_update().filter(pk=comparison_id).first()
    if comparison is None:
        raise InputError("comparison", f"No comparison {comparison_id}.")
    earlier = Ranking.objects.filter(comparison=comparison, rater=rater).first()
    if earlier is not None and (not idempotency_key or earlier.idempotency_key != idempotency_key):
        return earlier, False  # a double submit without the first request's key
    candidate_ids = set(comparison.candidates.values_list("id", flat=True))
    groups = ranking_checked(ranking, candidate_ids=candidate_ids)
    answer = {
        "ranking": groups,
        "strength": strength_checked(strength, groups=groups, k=len(candidate_ids)),
        "flags": flags_checked(flags, candidate_ids=candidate_ids),
        "likert": likert_checked(likert, candidate_ids=candidate_ids),
        "all_bad": all_bad,
        "rationale": rationale,
    }
    if earlier is not None:  # the same key again: a retry, if it asks for the same ranking
        if any(getattr(earlier, field) != value for field, value in answer.items()):
            raise IdempotencyKeyReused(
                f"This key made ranking {earlier.pk} with other answers; "
                "send a new key for a different request."
            )
        return earlier, False
    if (
        idempotency_key
        and Ranking.objects.filter(rater=rater, idempotency_key=idempotency_key).exists()
    ):
        raise IdempotencyKeyReused("This key was used for another comparison; send a new key.")
    assignment = assignment_held(user=rater, task_id=comparison.task_id, lock=True)
    record = Ranking.objects.create(
        comparison=comparison,
        rater=rater,
        guideline_version=version_worked_under(rater, comparison.task.guideline),
        pairs=ranking_pairs(groups),
        shown_order=shown_order(comparison=comparison, rater_id=rater.pk),
        time_spent_s=time_spent_s,
        idempotency_key=idempotency_key,
        uncertainty=comparison.uncertainty,
        **answer,
    )
    assignment_finish(assignment=assignment)
    consensus_refresh(comparison=comparison)
    if comparison.ranking_count >= 2:
        # The raters' disagreement so far is part of the priority of what is left of it.
        Task.objects.filter(pk=comparison.task_id, status=Task.Status.OPEN).update(
            priority=comparison_priority(comparison)
        )
    return record, True


def consensus_refresh(*, comparison: Comparison) -> Comparison:
    """Recompute and store the merged order and the agreement of a comparison's raters."""
    rows = list(comparison.rankings.values("rater_id", "ranking", "shown_order"))
    candidates = sorted(comparison.candidates.values_list("id", flat=True))
    rankings = [r["ranking"] for r in rows]
    rated = [
        RatedRanking(comparison.pk, r["rater_id"], r["ranking"], r["shown_order"]) for r in rows
    ]
    units = unit_values(rated)
    comparison.consensus_ranked_pairs = ranked_pairs(candidates, rankings) if rankings else []
    comparison.consensus_bradley_terry = (
        {str(c): s for c, s in bradley_terry(candidates, rankings).items()} if rankings else {}
    )
    comparison.agreement = {
        "pairwise_agreement": pairwise_agreement(units),
        "krippendorff_alpha": krippendorff_alpha(units),
        "position_bias": position_bias(rated),
        "raters": len(rows),
        "complete": len(rows) >= comparison.task.wanted,
    }
    comparison.ranking_count = len(rows)
    comparison.save(
        update_fields=[
            "consensus_ranked_pairs",
            "consensus_bradley_terry",
            "agreement",
            "ranking_count",
        ]
    )
    return comparison


@transaction.atomic
def comparison_import(
    *,
    prompt: Prompt,
    replies: Sequence[str],
    models: Sequence[str],
    ranking: Sequence[Sequence[int]],
    rater: AbstractBaseUser,
    source: str,
) -> Comparison:
    """A comparison ranked elsewhere: its candidates, one ranking by `rater` (the source),
    and a finished task so that it never enters the queue."""
    version = version_current_published(guideline=prompt.guideline)
    if version is None:
        raise NoPublishedVersion(prompt.guideline)
    if not MIN_K <= len(replies) <= MAX_K:
        raise InputError("candidates", f"Between {MIN_K} and {MAX_K} replies.")
    groups = ranking_checked([list(g) for g in ranking], candidate_ids=set(range(len(replies))))
    task = task_record_imported(kind=RANKING, prompt=prompt)
    comparison = Comparison.objects.create(task=task, prompt=prompt, source=source)
    made = Candidate.objects.bulk_create(
        [
            Candidate(
                prompt=prompt,
                content=text,
                model_name=(models[i] if i < len(models) else "")[:200],
                source=Candidate.Source.IMPORTED,
            )
            for i, text in enumerate(replies)
        ]
    )
    comparison.candidates.set(made)
    ranked = [sorted(made[i].pk for i in group) for group in groups]
    Ranking.objects.create(
        comparison=comparison,
        rater=rater,
        guideline_version=version,
        ranking=ranked,
        pairs=ranking_pairs(ranked),
        # Nobody here was shown it, so it says nothing about position bias.
        shown_order=[],
    )
    return consensus_refresh(comparison=comparison)
