"""Near-duplicate prompts: flagged when a new prompt is written, so labelers and admins see
that much the same question is already in the pool (OpenAssistant's users asked for this)."""

import difflib
import re
from dataclasses import dataclass

from django.db import connection

from labeling.models import Prompt

# Trigram similarity at or above this flags a prompt; 0.6 catches rewordings of the same
# question ("how do plants make food" / "how do plants make their food?") but not two
# different questions that share a topic.
NEAR_DUPLICATE_SIMILARITY = 0.6
SEARCH_TEXT_CHARS = 2000
# Without trigram indexes (SQLite) only the most recent prompts are compared.
PYTHON_SCAN_LIMIT = 2000


@dataclass(frozen=True)
class NearDuplicate:
    prompt_id: int
    similarity: float
    text: str


def prompt_search_text(messages: list[dict[str, str]]) -> str:
    text = " ".join(m["content"] for m in messages if m["role"] != "system")
    return re.sub(r"\s+", " ", text).strip().lower()[:SEARCH_TEXT_CHARS]


def prompt_near_duplicates(
    *, guideline_id: int, search_text: str, limit: int = 3
) -> list[NearDuplicate]:
    if not search_text:
        return []
    if connection.vendor == "postgresql":
        return _postgres(guideline_id, search_text, limit)
    return _python(guideline_id, search_text, limit)


def _postgres(guideline_id: int, search_text: str, limit: int) -> list[NearDuplicate]:
    # `%` is the operator the trigram index answers; the similarity() bound then applies
    # our threshold, which is stricter than the extension's default.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, similarity(search_text, %s) AS score, search_text
            FROM labeling_prompt
            WHERE guideline_id = %s AND search_text %% %s AND similarity(search_text, %s) >= %s
            ORDER BY score DESC, id LIMIT %s
            """,
            [search_text, guideline_id, search_text, search_text, NEAR_DUPLICATE_SIMILARITY, limit],
        )
        return [NearDuplicate(pk, round(score, 3), text) for pk, score, text in cursor.fetchall()]


def _python(guideline_id: int, search_text: str, limit: int) -> list[NearDuplicate]:
    found = []
    recent = (
        Prompt.objects.filter(guideline_id=guideline_id)
        .order_by("-id")
        .values_list("id", "search_text")
    )
    for pk, text in recent[:PYTHON_SCAN_LIMIT]:
        matcher = difflib.SequenceMatcher(a=search_text, b=text, autojunk=False)
        if matcher.quick_ratio() < NEAR_DUPLICATE_SIMILARITY:
            continue
        score = matcher.ratio()
        if score >= NEAR_DUPLICATE_SIMILARITY:
            found.append(NearDuplicate(pk, round(score, 3), text))
    return sorted(found, key=lambda d: (-d.similarity, d.prompt_id))[:limit]
