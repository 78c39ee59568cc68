"""AI feedback as snapshot rows, in the same formats as people's (dataset_io.export_rows),
for snapshots whose filters ask for `source` "ai" or "all". Each row names its AI rater;
none names a person. The shared filters apply as they do to people's rows; a ranking's
guideline version is the one the rater judged under. AI rows are always one per AI
ranking: `pairs: consensus` merges people's rankings, not an AI's."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Max, Prefetch, QuerySet

from ai_feedback.models import AICritique, AIRanking
from dataset_io.export_rows import CHUNK, Row, agreeing, comparisons_of, rows_filtered
from rankings.consensus import ranking_pairs
from rankings.models import Candidate


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


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


def _version(ranking: AIRanking | AICritique) -> str:
    version = ranking.guideline_version
    return f"{version.guideline.slug} v{version.number}"


def ai_preference_rows(filters: dict, options: dict) -> Iterator[Row]:
    for ranking, text in _ranked(filters):
        prompt = ranking.comparison.prompt
        for winner, loser in ranking_pairs(ranking.ranking):
            yield Row(
                prompt.content_hash,
                {
                    "prompt": prompt.messages,
                    "chosen": _assistant(text[winner]),
                    "rejected": _assistant(text[loser]),
                },
                prompt.category,
                _version(ranking),
                None,
                ranking.rater_name,
            )


def ai_rankings_rows(filters: dict, options: dict) -> Iterator[Row]:
    for ranking, text in _ranked(filters):
        prompt = ranking.comparison.prompt
        index = {pk: i for i, pk in enumerate(text)}
        yield Row(
            prompt.content_hash,
            {
                "prompt": prompt.messages,
                "completions": [_assistant(content) for content in text.values()],
                "ranking": [sorted(index[c] for c in group) for group in ranking.ranking],
            },
            prompt.category,
            _version(ranking),
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
            {"messages": [*critique.prompt.messages, *_assistant(critique.revision)]},
            critique.prompt.category,
            _version(critique),
            None,
            critique.rater_name,
        )


def ai_rankings_state() -> dict[str, object]:
    """Changes whenever an AI rater ranks (AI rankings are never edited)."""
    return AIRanking.objects.aggregate(n=Count("id"), last=Max("id"))


def ai_critiques_state() -> dict[str, object]:
    return AICritique.objects.aggregate(n=Count("id"), last=Max("id"))
