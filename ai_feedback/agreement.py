"""How far each AI rater agrees with people: its rankings against the human consensus of
the same comparisons, per guideline version the rater judged under, on the comparisons
both have ranked (AI-made comparisons only once people ranked them too).

The consensus plays the second rater: pairwise agreement is the share of candidate pairs
on which the AI and the consensus say the same (better, worse or tied), and Krippendorff's
alpha (ordinal) corrects that for chance, as rankings.agreement does between people.
"""

from __future__ import annotations

from collections import defaultdict

from ai_feedback.models import AIRanking
from rankings.agreement import RatedRanking, krippendorff_alpha, pairwise_agreement, unit_values

# The two "raters" of every unit.
AI_RATER, CONSENSUS = -1, -2


def ai_agreement_rows(guideline_slug: str | None = None) -> list[dict[str, object]]:
    """One row per AI rater and guideline version, by rater then version."""
    # A comparison people ranked has a consensus; imported ones are left out, as in
    # people's agreement (their one label is not a consensus of ours), and so are the
    # rater's preferences for its own revisions, which are no judgement.
    rankings = AIRanking.objects.filter(
        made=AIRanking.Made.RANKED,
        comparison__ranking_count__gt=0,
        comparison__evaluation=False,
        comparison__source="platform",
    )
    if guideline_slug:
        rankings = rankings.filter(guideline_version__guideline__slug=guideline_slug)
    rows = rankings.values_list(
        "rater_name",
        "guideline_version__guideline__slug",
        "guideline_version__number",
        "comparison_id",
        "ranking",
        "comparison__consensus_ranked_pairs",
    )
    groups: dict[tuple[str, str, int], list[RatedRanking]] = defaultdict(list)
    for rater, slug, number, comparison, ranking, consensus in rows.iterator():
        group = groups[(rater, slug, number)]
        group.append(RatedRanking(comparison, AI_RATER, ranking))
        group.append(RatedRanking(comparison, CONSENSUS, consensus))
    report = []
    for (rater, slug, number), rated in sorted(groups.items()):
        units = unit_values(rated)
        report.append(
            {
                "rater": rater,
                "guideline": slug,
                "version": number,
                "comparisons": len(rated) // 2,
                "pairs": len(units),
                "pairwise_agreement": _rounded(pairwise_agreement(units)),
                "krippendorff_alpha": _rounded(krippendorff_alpha(units)),
            }
        )
    return report


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
