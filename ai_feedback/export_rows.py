"""AI feedback as snapshot rows, in the same formats as people's (dataset_io.export_rows),
for snapshots whose filters ask for `source` "ai" or "all". Each row names its AI rater;
none names a person. The shared filters apply as they do to people's rows; a ranking's
guideline version is the one the rater judged under. AI rows are always one per AI
ranking: `pairs: consensus` merges people's rankings, not an AI's."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Max, Prefetch, QuerySet

from ai_feedback.models import AICritique, AIRanking
from dataset_io.export_rows import (
    CHUNK,
    Row,
    agreeing,
    assistant_turn,
    comparisons_of,
    preference_row,
    rankings_row,
    rows_filtered,
    version_label,
)
from rankings.consensus import ranking_pairs
from rankings.models import Candidate


def _ai_rankings(filters: dict) -> QuerySet[AIRanking]:
    rankings = AIRanking.objects.filter(comparison__in=comparisons_of(filters))
    if filters.get("guideline_versions"):
        rankings = rankings.filter(guideline_version__number__in=filters["guideline_versions"])
    return (
        rankings.select_related("comparison__prompt", "guideline_version__guideline")
        .prefetch_related(
            Prefetch(
                "comparison__candidates",
                queryset=Candidate.objects.order_by("id").only("id", "content"),
            )
        )
        .order_by("comparison_id", "id")
    )


def _ranked(filters: dict) -> Iterator[tuple[AIRanking, dict[int, str]]]:
    """Each AI ranking with its comparison's candidates' text by id."""
    for ranking in _ai_rankings(filters).iterator(chunk_size=CHUNK // 10):
        comparison = ranking.comparison
        if not agreeing(comparison, filters):
            continue
        text = {c.pk: c.content for c in comparison.candidates.all()}
        yield ranking, text


def ai_preference_rows(filters: dict, options: dict) -> Iterator[Row]:
    for ranking, text in _ranked(filters):
        prompt = ranking.comparison.prompt
        version = version_label(ranking.guideline_version)
        for winner, loser in ranking_pairs(ranking.ranking):
            yield preference_row(
                prompt, text[winner], text[loser], version, None, ranking.rater_name
            )


def ai_rankings_rows(filters: dict, options: dict) -> Iterator[Row]:
    for ranking, text in _ranked(filters):
        index = {pk: i for i, pk in enumerate(text)}
        yield rankings_row(
            ranking.comparison.prompt,
            list(text.values()),
            [sorted(index[c] for c in group) for group in ranking.ranking],
            version_label(ranking.guideline_version),
            None,
            ranking.rater_name,
        )


def ai_sft_rows(filters: dict, options: dict) -> Iterator[Row]:
    """An AI rater's revisions, as the demonstrations an AI wrote."""
    critiques = rows_filtered(AICritique.objects.all(), filters, prompt="prompt__")
    if filters.get("guideline_versions"):
        critiques = critiques.filter(guideline_version__number__in=filters["guideline_versions"])
    critiques = critiques.select_related("prompt", "guideline_version__guideline").order_by("id")
    for critique in critiques.iterator(chunk_size=CHUNK):
        yield Row(
            critique.prompt.content_hash,
            {"messages": [*critique.prompt.messages, *assistant_turn(critique.revision)]},
            critique.prompt.category,
            version_label(critique.guideline_version),
            None,
            critique.rater_name,
        )


def ai_rankings_state() -> dict[str, object]:
    """Changes whenever an AI rater ranks (AI rankings are never edited)."""
    return AIRanking.objects.aggregate(n=Count("id"), last=Max("id"))


def ai_critiques_state() -> dict[str, object]:
    return AICritique.objects.aggregate(n=Count("id"), last=Max("id"))
