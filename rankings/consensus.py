"""Merging several raters' rankings of one comparison into one order.

Plain Python, no Django: rankings come in as lists of groups of candidate ids, best group
first, e.g. [[3], [1, 4], [2]] (1 and 4 tied). Ties carry no preference, in the input and
in the pairs we derive from it. Results never depend on the order rankings arrived in:
every tie-break is by candidate id.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations

Ranking = Sequence[Sequence[int]]


def ranking_pairs(ranking: Ranking) -> list[tuple[int, int]]:
    """Every (winner, loser) pair the ranking implies: C(K, 2) less the tied pairs."""
    pairs = []
    for better_index, better in enumerate(ranking):
        for worse in ranking[better_index + 1 :]:
            pairs.extend((winner, loser) for winner in better for loser in worse)
    return pairs


def pairwise_wins(rankings: Iterable[Ranking]) -> dict[tuple[int, int], int]:
    """wins[(a, b)]: how many raters put a above b."""
    wins: dict[tuple[int, int], int] = defaultdict(int)
    for ranking in rankings:
        for pair in ranking_pairs(ranking):
            wins[pair] += 1
    return dict(wins)


def _reaches(edges: dict[int, set[int]], start: int, goal: int) -> bool:
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in edges[node] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return False


def ranked_pairs(candidates: Sequence[int], rankings: Sequence[Ranking]) -> list[list[int]]:
    """Tideman's ranked pairs: lock majorities from the largest margin down, skipping any
    that would close a cycle; the locked graph's layers are the merged groups.

    A Condorcet winner always comes first; candidates no locked majority separates share
    a group, so unanimous ties stay ties.
    """
    wins = pairwise_wins(rankings)
    majorities = []
    for a, b in combinations(sorted(candidates), 2):
        ab, ba = wins.get((a, b), 0), wins.get((b, a), 0)
        if ab != ba:
            winner, loser = (a, b) if ab > ba else (b, a)
            # Larger margin first, then more support, then ids: a total, arrival-free order.
            majorities.append((-(abs(ab - ba)), -max(ab, ba), winner, loser))
    majorities.sort()
    locked: dict[int, set[int]] = {c: set() for c in candidates}
    for _, _, winner, loser in majorities:
        if not _reaches(locked, loser, winner):
            locked[winner].add(loser)
    return _layers(candidates, locked)


def _layers(candidates: Sequence[int], edges: dict[int, set[int]]) -> list[list[int]]:
    """Groups of a DAG: first those nothing beats, then those only they beat, and so on."""
    beaten_by: dict[int, int] = {c: 0 for c in candidates}
    for winner in edges:
        for loser in edges[winner]:
            beaten_by[loser] += 1
    remaining, groups = set(candidates), []
    while remaining:
        group = sorted(c for c in remaining if beaten_by[c] == 0)
        groups.append(group)
        for winner in group:
            for loser in edges[winner]:
                beaten_by[loser] -= 1
        remaining -= set(group)
    return groups


def bradley_terry(
    candidates: Sequence[int], rankings: Sequence[Ranking], *, iterations: int = 200
) -> dict[int, float]:
    """Bradley-Terry strengths by Hunter's MM updates, as log-strengths that sum to 0.

    Every candidate also gets half a win and half a loss against a virtual average
    opponent: without it, a candidate that never lost has infinite strength.
    """
    wins = pairwise_wins(rankings)
    strength = {c: 1.0 for c in candidates}
    prior = 0.5
    for _ in range(iterations):
        updated = {}
        for c in candidates:
            won = prior + sum(wins.get((c, o), 0) for o in candidates if o != c)
            denominator = 2 * prior / (strength[c] + 1.0)
            for o in candidates:
                games = wins.get((c, o), 0) + wins.get((o, c), 0)
                if o != c and games:
                    denominator += games / (strength[c] + strength[o])
            updated[c] = won / denominator
        # Keep the geometric mean at 1 so the virtual opponent stays "average".
        scale = math.exp(sum(math.log(v) for v in updated.values()) / len(updated))
        strength = {c: v / scale for c, v in updated.items()}
    return {c: round(math.log(strength[c]), 6) for c in candidates}


def order_by_scores(scores: dict[int, float], *, tolerance: float = 1e-6) -> list[list[int]]:
    """Groups by descending score; scores within `tolerance` of each other are tied."""
    groups: list[list[int]] = []
    last = None
    for candidate, score in sorted(scores.items(), key=lambda item: (-item[1], item[0])):
        if last is not None and abs(last - score) <= tolerance:
            groups[-1].append(candidate)
        else:
            groups.append([candidate])
        last = score
    return groups
