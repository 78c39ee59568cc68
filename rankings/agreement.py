"""How much raters agree, from their rankings. Plain Python, no Django.

The unit of agreement is one pair of candidates in one comparison. Each rater's value on
it is +1 (the lower id is better), -1 (the higher id is better) or 0 (tied), read off
their ranking. Pairwise agreement is the share of (rater, rater, pair) triples with the
same value, ties included, as InstructGPT reported it (72.6% between trained labelers);
Krippendorff's alpha (ordinal, from the `krippendorff` package) corrects it for chance.
"""

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import krippendorff
import numpy as np

from rankings.consensus import Ranking

Unit = tuple[int, int, int]  # (comparison id, lower candidate id, higher candidate id)


@dataclass(frozen=True)
class RatedRanking:
    comparison: int
    rater: int
    ranking: Ranking
    shown: Sequence[int] = ()
    version: int | None = None


def pair_values(ranking: Ranking) -> dict[tuple[int, int], int]:
    """{(a, b): +1 if a is above b, -1 if below, 0 if tied} for every pair with a < b."""
    position = {c: index for index, group in enumerate(ranking) for c in group}
    values = {}
    for a, b in combinations(sorted(position), 2):
        diff = position[b] - position[a]
        values[(a, b)] = (diff > 0) - (diff < 0)
    return values


def unit_values(rankings: Iterable[RatedRanking]) -> dict[Unit, dict[int, int]]:
    units: dict[Unit, dict[int, int]] = defaultdict(dict)
    for r in rankings:
        for (a, b), value in pair_values(r.ranking).items():
            units[(r.comparison, a, b)][r.rater] = value
    return dict(units)


def pairwise_agreement(units: Mapping[Unit, Mapping[int, int]]) -> float | None:
    agree = total = 0
    for values in units.values():
        for x, y in combinations(values.values(), 2):
            total += 1
            agree += x == y
    return agree / total if total else None


def rater_agreement(units: Mapping[Unit, Mapping[int, int]]) -> dict[int, tuple[float, int]]:
    """Each rater's agreement with the other raters of the same units, and how many judgements."""
    agree: dict[int, int] = defaultdict(int)
    total: dict[int, int] = defaultdict(int)
    for values in units.values():
        for (r1, v1), (r2, v2) in combinations(values.items(), 2):
            for rater in (r1, r2):
                total[rater] += 1
                agree[rater] += v1 == v2
    return {rater: (agree[rater] / total[rater], total[rater]) for rater in total}


def krippendorff_alpha(units: Mapping[Unit, Mapping[int, int]]) -> float | None:
    """Ordinal alpha over pair judgements; None when it is undefined (no pairable values
    or no variation at all)."""
    pairable = [values for values in units.values() if len(values) >= 2]
    if not pairable:
        return None
    raters = sorted({rater for values in pairable for rater in values})
    column = {rater: i for i, rater in enumerate(raters)}
    data = np.full((len(raters), len(pairable)), np.nan)
    for j, values in enumerate(pairable):
        for rater, value in values.items():
            data[column[rater], j] = value
    if len({v for values in pairable for v in values.values()}) < 2:
        return None  # everyone always said the same: alpha divides by zero
    value = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    return None if math.isnan(value) else float(value)


def position_bias(rankings: Iterable[RatedRanking]) -> dict[str, float | int | None]:
    """How often the candidate shown first ends in the top group, against chance (1/K,
    counting a tie for first as a share)."""
    won = expected = 0.0
    count = 0
    for r in rankings:
        if not r.shown:
            continue
        top = set(r.ranking[0])
        won += (r.shown[0] in top) / len(top)
        expected += 1 / len(r.shown)
        count += 1
    if not count:
        return {"first_shown_wins": None, "chance": None, "rankings": 0}
    return {"first_shown_wins": won / count, "chance": expected / count, "rankings": count}


def gold_accuracy(
    rankings: Iterable[RatedRanking], gold: Mapping[int, Ranking]
) -> dict[int, tuple[float, int]]:
    """Per rater: the share of pairs on gold comparisons where they match the known order."""
    right: dict[int, int] = defaultdict(int)
    seen: dict[int, int] = defaultdict(int)
    for r in rankings:
        if r.comparison not in gold:
            continue
        truth = pair_values(gold[r.comparison])
        for pair, value in pair_values(r.ranking).items():
            if pair in truth:
                seen[r.rater] += 1
                right[r.rater] += value == truth[pair]
    return {rater: (right[rater] / seen[rater], seen[rater]) for rater in seen}


def raters_far_below(
    agreement: Mapping[int, tuple[float, int]], *, min_judgements: int = 20, spread: float = 2.0
) -> list[int]:
    """Raters whose agreement is more than `spread` robust deviations below the median.

    The spread is the median absolute deviation (scaled to a standard deviation), so one
    bad rater cannot hide by dragging the mean down; raters with few judgements are not
    judged at all.
    """
    rated = {r: a for r, (a, n) in agreement.items() if n >= min_judgements}
    if len(rated) < 3:
        return []
    values = list(rated.values())
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values) * 1.4826
    floor = median - spread * max(mad, 0.05)
    return sorted(r for r, a in rated.items() if a < floor)
