"""What an AI rater is asked and how its answers are read. Plain Python, no Django: the
benchmark of AI judges (benchmarks/ai_judge_agreement.py) asks and reads the same way.

A ranking is asked twice, the candidates shown in one order and then in the reverse one,
and the two answers are merged by each candidate's mean place: a judge that prefers
whatever it sees first ends with a tie, not a preference.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

# Up to MAX_K = 9 candidates, shown as A..I.
LETTERS = string.ascii_uppercase[:9]
# Room for "B > A = C > D ..." over nine letters, and a little over.
RANK_MAX_TOKENS = 48
CRITIQUE_MAX_TOKENS = 256
REVISION_MAX_TOKENS = 512
# How much of an answer an item keeps, as said or as it failed.
ANSWER_KEPT = 300

RANK_SYSTEM = (
    "You are a careful rater of assistant replies. Judge the replies strictly by the "
    "guideline below.\n\nGUIDELINE\n{guideline}\n\n"
    "Answer with the reply letters from best to worst, separated by '>', with '=' between "
    "replies that are equally good, for example: B > A = C. Write nothing else."
)
CRITIQUE_SYSTEM = (
    "You review an assistant's reply against one principle of a guideline.\n\n"
    "PRINCIPLE\n{principle}\n\nSay briefly and concretely where the reply falls short of "
    "the principle, or that it does not."
)
REVISION_SYSTEM = (
    "You rewrite an assistant's reply so that it follows one principle of a guideline, "
    "keeping whatever was right in it.\n\nPRINCIPLE\n{principle}\n\n"
    "Answer with the rewritten reply only."
)

# One or more letters joined by > or =, optionally after "Ranking:" or "Answer:"; a
# trailing full stop is allowed, anything else is not read.
_RANKING = re.compile(r"^(?:(?:ranking|answer)\s*:\s*)?([A-I](?:\s*[>=]\s*[A-I])*)\s*\.?$", re.I)


class UnreadableAnswer(ValueError):
    """The rater's answer is not a ranking of exactly the letters it was shown."""


def conversation_text(messages: Sequence[dict[str, str]]) -> str:
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def rank_messages(
    guideline: str, messages: Sequence[dict[str, str]], replies: Sequence[str]
) -> list[dict[str, str]]:
    """The chat that asks for a ranking of `replies`, shown as A, B, ... in that order."""
    shown = "\n\n".join(f"Reply {LETTERS[i]}:\n{reply}" for i, reply in enumerate(replies))
    letters = ", ".join(LETTERS[: len(replies)])
    question = (
        f"Conversation:\n{conversation_text(messages)}\n\n{shown}\n\n"
        f"Rank replies {letters} from best to worst."
    )
    return [
        {"role": "system", "content": RANK_SYSTEM.format(guideline=guideline.strip())},
        {"role": "user", "content": question},
    ]


def ranking_read(answer: str, count: int) -> list[list[int]]:
    """The groups of positions (0 = the reply shown as A), best first, that `answer` names;
    UnreadableAnswer unless it names each of the first `count` letters exactly once."""
    found = _RANKING.match(answer.strip())
    if found is None:
        raise UnreadableAnswer(f"not a ranking such as 'B > A': {answer[:ANSWER_KEPT]!r}")
    groups = [
        [LETTERS.index(letter.strip().upper()) for letter in group.split("=")]
        for group in found.group(1).split(">")
    ]
    named = sorted(p for group in groups for p in group)
    if named != list(range(count)):
        expected = " ".join(LETTERS[:count])
        raise UnreadableAnswer(f"not each of {expected} once: {answer[:ANSWER_KEPT]!r}")
    return groups


def orders_merged(
    rankings: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]],
) -> list[list[int]]:
    """One ranking of candidate ids from several, each given as (the ids in the order they
    were shown, the groups of shown positions the rater answered). Candidates are ordered
    by their mean place (a group's place is its index) and equal means are tied: a rater
    that always puts the first shown first, asked in both orders, ties everything."""
    places: dict[int, float] = {}
    for shown, groups in rankings:
        for place, group in enumerate(groups):
            for position in group:
                candidate = shown[position]
                places[candidate] = places.get(candidate, 0.0) + place
    merged: dict[float, list[int]] = {}
    for candidate, total in places.items():
        merged.setdefault(total, []).append(candidate)
    return [sorted(merged[total]) for total in sorted(merged)]


def critique_messages(
    principle: str, messages: Sequence[dict[str, str]], reply: str
) -> list[dict[str, str]]:
    question = (
        f"Conversation:\n{conversation_text(messages)}\n\nReply:\n{reply}\n\n"
        "Critique the reply against the principle."
    )
    return [
        {"role": "system", "content": CRITIQUE_SYSTEM.format(principle=principle.strip())},
        {"role": "user", "content": question},
    ]


def revision_messages(
    principle: str, messages: Sequence[dict[str, str]], reply: str, critique: str
) -> list[dict[str, str]]:
    question = (
        f"Conversation:\n{conversation_text(messages)}\n\nReply:\n{reply}\n\n"
        f"Critique:\n{critique}\n\nRewrite the reply."
    )
    return [
        {"role": "system", "content": REVISION_SYSTEM.format(principle=principle.strip())},
        {"role": "user", "content": question},
    ]


def guideline_sections(body: str) -> dict[str, str]:
    """A Markdown guideline's sections by heading (any level), each with its own text up to
    the next heading; text before the first heading is not a section."""
    sections: dict[str, str] = {}
    heading = None
    lines: list[str] = []
    for line in body.splitlines():
        found = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if found:
            if heading is not None:
                sections[heading] = "\n".join(lines).strip()
            heading, lines = found.group(1), [line]
        elif heading is not None:
            lines.append(line)
    if heading is not None:
        sections[heading] = "\n".join(lines).strip()
    return sections
