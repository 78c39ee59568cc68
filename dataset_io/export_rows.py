"""The rows of each snapshot kind, read from the database in TRL's formats.

Rows are read in id order in chunks, so memory stays flat and two exports of unchanged
data are byte-identical; the train/validation split is by a hash of the prompt, so no
prompt is in both. dataset_io.exporting writes them (and has PostgreSQL write the preference
pairs itself where it can).
"""

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from dataset_io.models import DatasetSnapshot
from guidelines.models import GuidelineVersion
from labeling.models import Demonstration, Prompt
from rankings.consensus import ranking_pairs
from rankings.models import Candidate, Comparison, Ranking

CHUNK = 2000


@dataclass
class Row:
    prompt_hash: str
    data: dict[str, object] | str  # a dict, or the JSON line already written by the database
    category: str
    version: str
    person: int | None
    # The AI rater's name on a row of AI feedback; empty on people's rows.
    ai_rater: str = ""


@dataclass
class Stats:
    counts: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    versions: set[str] = field(default_factory=set)
    people: set[int] = field(default_factory=set)
    ai_raters: set[str] = field(default_factory=set)


def split_of(prompt_hash: str, validation_permille: int) -> str:
    """Validation for about `validation_permille` in 1,000 prompts, decided by the prompt alone.

    The prompt's content hash is already a sha256 digest, uniform in its first 32 bits.
    """
    bucket = int(prompt_hash[:8], 16) % 1000
    return "validation" if bucket < validation_permille else "train"


def assistant_turn(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def version_label(version: GuidelineVersion) -> str:
    return f"{version.guideline.slug} v{version.number}"


def preference_row(
    prompt: Prompt,
    chosen: str,
    rejected: str,
    version: str,
    person: int | None,
    ai_rater: str = "",
) -> Row:
    """One (chosen, rejected) pair in TRL's conversational preference format."""
    data = {
        "prompt": prompt.messages,
        "chosen": assistant_turn(chosen),
        "rejected": assistant_turn(rejected),
    }
    return Row(prompt.content_hash, data, prompt.category, version, person, ai_rater)


def rankings_row(
    prompt: Prompt,
    texts: list[str],
    ranking: list[list[int]],
    version: str,
    person: int | None,
    ai_rater: str = "",
) -> Row:
    """A ranking of `texts` (given as groups of their indices, best first)."""
    data = {
        "prompt": prompt.messages,
        "completions": [assistant_turn(text) for text in texts],
        "ranking": ranking,
    }
    return Row(prompt.content_hash, data, prompt.category, version, person, ai_rater)


def rows_filtered(queryset: QuerySet, filters: dict, *, prompt: str) -> QuerySet:
    """The filters every kind shares, applied through the path to the prompt."""
    if filters.get("guideline"):
        queryset = queryset.filter(**{f"{prompt}guideline__slug": filters["guideline"]})
    if filters.get("categories"):
        queryset = queryset.filter(**{f"{prompt}category__in": filters["categories"]})
    if filters.get("languages"):
        queryset = queryset.filter(**{f"{prompt}language__in": filters["languages"]})
    if filters.get("created_after"):
        queryset = queryset.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        queryset = queryset.filter(created_at__lt=filters["created_before"])
    return queryset


def sft_rows(filters: dict, options: dict) -> Iterator[Row]:
    demonstrations = Demonstration.objects.filter(
        status__in=filters.get("statuses") or [Demonstration.Status.APPROVED]
    )
    if filters.get("guideline_versions"):
        demonstrations = demonstrations.filter(
            guideline_version__number__in=filters["guideline_versions"]
        )
    if filters.get("sources"):
        demonstrations = demonstrations.filter(source__in=filters["sources"])
    demonstrations = rows_filtered(demonstrations, filters, prompt="prompt__").order_by("id")
    columns = (
        "prompt__messages",
        "prompt__content_hash",
        "prompt__category",
        "content",
        "guideline_version__guideline__slug",
        "guideline_version__number",
        "author_id",
    )
    for (
        messages,
        prompt_hash,
        category,
        content,
        slug,
        number,
        author,
    ) in demonstrations.values_list(*columns).iterator(chunk_size=CHUNK):
        yield Row(
            prompt_hash,
            {"messages": [*messages, *assistant_turn(content)]},
            category,
            f"{slug} v{number}",
            author,
        )


def comparisons_of(filters: dict) -> QuerySet[Comparison]:
    """The comparisons whose labels the filters take, people's or an AI rater's."""
    comparisons = Comparison.objects.all()
    if filters.get("sources"):
        comparisons = comparisons.filter(source__in=filters["sources"])
    if not filters.get("include_evaluations"):
        comparisons = comparisons.filter(evaluation=False)
    return rows_filtered(comparisons, filters, prompt="prompt__")


def comparisons_filtered(filters: dict) -> QuerySet[Comparison]:
    comparisons = comparisons_of(filters).filter(ranking_count__gt=0)
    rankings = Ranking.objects.order_by("id").select_related("guideline_version__guideline")
    if filters.get("guideline_versions"):
        rankings = rankings.filter(guideline_version__number__in=filters["guideline_versions"])
    return (
        comparisons.select_related("prompt")
        .prefetch_related(
            Prefetch("candidates", queryset=Candidate.objects.order_by("id").only("id", "content")),
            Prefetch("rankings", queryset=rankings),
        )
        .order_by("id")
    )


def agreeing(comparison: Comparison, filters: dict) -> bool:
    minimum = filters.get("min_agreement")
    if minimum is None:
        return True
    agreement = (comparison.agreement or {}).get("pairwise_agreement")
    return agreement is not None and agreement >= minimum


def preference_rows(filters: dict, options: dict) -> Iterator[Row]:
    consensus_only = options.get("pairs") == "consensus"
    for comparison in comparisons_filtered(filters).iterator(chunk_size=CHUNK // 10):
        if not agreeing(comparison, filters):
            continue
        text = {c.pk: c.content for c in comparison.candidates.all()}
        prompt = comparison.prompt
        rankings = list(comparison.rankings.all())
        if not rankings:
            continue
        first = rankings[0].guideline_version
        judged = (
            [(comparison.consensus_ranked_pairs, None, first)]
            if consensus_only
            else [(r.ranking, r.rater_id, r.guideline_version) for r in rankings]
        )
        for groups, rater, version in judged:
            label = version_label(version)
            # Ties are left out by ranking_pairs: a tie says neither reply is better.
            for winner, loser in ranking_pairs(groups):
                yield preference_row(prompt, text[winner], text[loser], label, rater)


def rankings_rows(filters: dict, options: dict) -> Iterator[Row]:
    for comparison in comparisons_filtered(filters).iterator(chunk_size=CHUNK // 10):
        if not agreeing(comparison, filters):
            continue
        candidates = list(comparison.candidates.all())
        index = {c.pk: i for i, c in enumerate(candidates)}
        for ranking in comparison.rankings.all():
            yield rankings_row(
                comparison.prompt,
                [c.content for c in candidates],
                [sorted(index[c] for c in group) for group in ranking.ranking],
                version_label(ranking.guideline_version),
                ranking.rater_id,
            )


ROWS = {
    DatasetSnapshot.Kind.SFT: sft_rows,
    DatasetSnapshot.Kind.PREFERENCE: preference_rows,
    DatasetSnapshot.Kind.RANKINGS: rankings_rows,
}

# Whose labels a snapshot holds (`filters.source`): people's unless asked otherwise.
HUMAN, AI, ALL = "human", "ai", "all"
LABEL_SOURCES = (HUMAN, AI, ALL)
RowsOf = Callable[[dict, dict], Iterator[Row]]
# The rows of AI feedback per kind, registered by the app that keeps it (ai_feedback),
# which sits above this one. Kept apart from ROWS: no snapshot takes them by default.
AI_ROWS: dict[str, RowsOf] = {}


def ai_rows_register(kind: str, rows: RowsOf) -> None:
    AI_ROWS[kind] = rows


def label_source(filters: dict) -> str:
    return filters.get("source") or HUMAN


# Every pair of every ranking, each line built by PostgreSQL itself: jsonb's text form
# ("role" before "content", ", " and ": " separators, the same escapes) is what
# json.dumps(..., ensure_ascii=False) writes, so both paths give the same bytes.
# The pairs of a ranking are read in the order ranking_pairs stored them (the order the
# Python path writes), so the database sorts rankings, never pairs; the split is
# computed here too, as split_of does it.
