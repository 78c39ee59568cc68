from collections import defaultdict
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from labeling.models import Assignment
from rankings.agreement import (
    RatedRanking,
    gold_accuracy,
    krippendorff_alpha,
    pairwise_agreement,
    position_bias,
    rater_agreement,
    raters_far_below,
    unit_values,
)
from rankings.models import Comparison, Ranking
from rankings.services import shown_order


def comparison_candidates_shown(
    *, comparison: Comparison, rater_id: int
) -> list[dict[str, object]]:
    """The comparison's candidates in the order this rater sees them."""
    by_id = {c.pk: c for c in comparison.candidates.all()}
    return [
        {"id": by_id[pk].pk, "content": by_id[pk].content}
        for pk in shown_order(comparison=comparison, rater_id=rater_id)
    ]


def ranking_task_payload(assignment: Assignment) -> dict[str, object]:
    """What a rater's client needs for a ranking task (model names stay hidden: they bias)."""
    comparison = Comparison.objects.get(task_id=assignment.task_id)
    candidates = comparison_candidates_shown(comparison=comparison, rater_id=assignment.user_id)
    return {
        "comparison": {
            "id": comparison.pk,
            "k": len(candidates),
            "mode": "pairwise" if len(candidates) == 2 else "kwise",
            "candidates": candidates,
        }
    }


def comparison_list() -> QuerySet[Comparison]:
    return Comparison.objects.select_related("prompt", "task").order_by("-id")


# More parts of the agreement report, by key, from the apps above this one (ai_feedback:
# each AI rater's agreement with the people's consensus); each is given the guideline slug.
AGREEMENT_PARTS: dict[str, Callable[[str | None], object]] = {}


def agreement_part_register(key: str, part: Callable[[str | None], object]) -> None:
    AGREEMENT_PARTS[key] = part


def agreement_report(*, guideline_slug: str | None = None) -> dict[str, object]:
    """Agreement over the rankings made here (of one guideline): overall, per guideline
    version, per rater, position bias, gold accuracy, and the raters far below their peers.
    Imported rankings are left out: their raters are not ours to judge."""
    rankings = Ranking.objects.filter(comparison__source="platform")
    if guideline_slug:
        rankings = rankings.filter(comparison__task__guideline__slug=guideline_slug)
    rows = list(
        rankings.values(
            "comparison_id",
            "rater_id",
            "ranking",
            "shown_order",
            "guideline_version__number",
            "guideline_version__guideline__slug",
        )
    )
    rated = [
        RatedRanking(
            r["comparison_id"],
            r["rater_id"],
            r["ranking"],
            r["shown_order"],
            r["guideline_version__number"],
        )
        for r in rows
    ]
    units = unit_values(rated)
    per_rater = rater_agreement(units)
    gold = dict(Comparison.objects.exclude(gold_ranking=[]).values_list("id", "gold_ranking"))
    accuracy = gold_accuracy(rated, gold)
    by_version: dict[tuple[str, int], list[RatedRanking]] = defaultdict(list)
    for r, row in zip(rated, rows, strict=True):
        by_version[(row["guideline_version__guideline__slug"], r.version)].append(r)
    names = dict(
        get_user_model()
        .objects.filter(pk__in={r.rater for r in rated})
        .values_list("pk", "username")
    )
    below = set(raters_far_below(per_rater))
    return {
        "rankings": len(rated),
        "pairwise_agreement": pairwise_agreement(units),
        "krippendorff_alpha": krippendorff_alpha(units),
        "position_bias": position_bias(rated),
        "by_guideline_version": [
            {
                "guideline": slug,
                "version": version,
                "rankings": len(group),
                "pairwise_agreement": pairwise_agreement(unit_values(group)),
                "krippendorff_alpha": krippendorff_alpha(unit_values(group)),
            }
            for (slug, version), group in sorted(by_version.items())
        ],
        "raters": sorted(
            (
                {
                    "rater": names.get(rater, str(rater)),
                    "agreement_with_others": None if share is None else round(share, 4),
                    "judgements": count,
                    "gold_accuracy": round(accuracy[rater][0], 4) if rater in accuracy else None,
                    "far_below_peers": rater in below,
                }
                for rater, (share, count) in (
                    (r, per_rater.get(r, (None, 0))) for r in {x.rater for x in rated}
                )
            ),
            # Lowest agreement first (raters with nothing shared yet last), then by name.
            key=lambda row: (
                row["agreement_with_others"] is None,
                row["agreement_with_others"] or 0,
                row["rater"],
            ),
        ),
        "far_below_peers": sorted(names.get(r, str(r)) for r in below),
        **{key: part(guideline_slug) for key, part in AGREEMENT_PARTS.items()},
    }
