"""Checks on a submitted ranking, each failing with a message that names the problem."""

from collections.abc import Collection

from config.errors import InputError
from rankings.models import Ranking

MIN_K, MAX_K = 2, 9
LIKERT = range(1, 8)


def ranking_checked(value: object, *, candidate_ids: Collection[int]) -> list[list[int]]:
    """Groups of candidate ids, best first, naming every candidate exactly once."""
    if not isinstance(value, list) or not value:
        raise InputError("ranking", "A list of groups of candidate ids, best group first.")
    seen: set[int] = set()
    groups = []
    for index, group in enumerate(value):
        if not isinstance(group, list) or not all(type(c) is int for c in group):
            raise InputError("ranking", f"Group {index + 1} must be a list of candidate ids.")
        if not group:
            raise InputError("ranking", f"Group {index + 1} is empty.")
        for candidate in group:
            if candidate not in candidate_ids:
                raise InputError("ranking", f"Candidate {candidate} is not in this comparison.")
            if candidate in seen:
                raise InputError("ranking", f"Candidate {candidate} is named twice.")
            seen.add(candidate)
        groups.append(sorted(group))
    missing = sorted(set(candidate_ids) - seen)
    if missing:
        raise InputError("ranking", f"Candidates left out: {', '.join(map(str, missing))}.")
    return groups


def _candidate_key(key: object, candidate_ids: Collection[int], field: str) -> int:
    try:
        candidate = int(str(key))
    except ValueError:
        raise InputError(field, f"{key!r} is not a candidate id.") from None
    if candidate not in candidate_ids:
        raise InputError(field, f"Candidate {candidate} is not in this comparison.")
    return candidate


def flags_checked(value: object, *, candidate_ids: Collection[int]) -> dict[str, list[str]]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise InputError("flags", "An object: {candidate id: [flags]}.")
    flags = {}
    for key, names in value.items():
        candidate = _candidate_key(key, candidate_ids, "flags")
        if not isinstance(names, list) or any(n not in Ranking.Flag.values for n in names):
            raise InputError("flags", f"Flags are some of: {', '.join(Ranking.Flag.values)}.")
        if names:
            flags[str(candidate)] = sorted(set(names))
    return flags


def likert_checked(value: object, *, candidate_ids: Collection[int]) -> dict[str, int]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise InputError("likert", "An object: {candidate id: 1..7}.")
    scores = {}
    for key, score in value.items():
        candidate = _candidate_key(key, candidate_ids, "likert")
        if type(score) is not int or score not in LIKERT:
            raise InputError("likert", f"Scores are whole numbers from 1 to 7, not {score!r}.")
        scores[str(candidate)] = score
    return scores


def strength_checked(value: object, *, groups: list[list[int]], k: int) -> int | None:
    """Pairwise only: 0 for a tie, 1 (slightly) to 3 (much) better for a preference."""
    if value is None:
        return None
    if k != 2:
        raise InputError("strength", "A strength is given only when comparing two replies.")
    if type(value) is not int or not 0 <= value <= 3:
        raise InputError("strength", "0 (tie) to 3 (much better).")
    tied = len(groups) == 1
    if tied != (value == 0):
        raise InputError("strength", "A tie has strength 0; a preference 1 to 3.")
    return value
