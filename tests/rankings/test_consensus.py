import random
from itertools import permutations

import pytest

from rankings.consensus import (
    bradley_terry,
    order_by_scores,
    pairwise_wins,
    ranked_pairs,
    ranking_pairs,
)

CANDIDATES = [11, 12, 13, 14]


def test_a_ranking_implies_all_pairs_but_the_tied_ones():
    assert sorted(ranking_pairs([[3], [1, 4], [2]])) == [(1, 2), (3, 1), (3, 2), (3, 4), (4, 2)]


def test_ties_never_produce_a_preference():
    all_tied = [[list(CANDIDATES)]] * 3

    assert ranking_pairs([CANDIDATES]) == []
    assert pairwise_wins(all_tied) == {}
    assert ranked_pairs(CANDIDATES, all_tied) == [CANDIDATES]
    assert set(bradley_terry(CANDIDATES, all_tied).values()) == {0.0}
    assert order_by_scores(bradley_terry(CANDIDATES, all_tied)) == [CANDIDATES]


def test_a_tie_between_two_leaves_those_two_tied_in_the_result():
    rankings = [[[11], [12, 13], [14]]] * 2

    assert ranked_pairs(CANDIDATES, rankings) == [[11], [12, 13], [14]]
    scores = bradley_terry(CANDIDATES, rankings)
    assert scores[12] == pytest.approx(scores[13])
    assert order_by_scores(scores) == [[11], [12, 13], [14]]


@pytest.mark.parametrize("order", list(permutations(CANDIDATES))[:8])
def test_unanimous_raters_get_their_order(order):
    rankings = [[[c] for c in order]] * 3
    expected = [[c] for c in order]

    assert ranked_pairs(CANDIDATES, rankings) == expected
    assert order_by_scores(bradley_terry(CANDIDATES, rankings)) == expected


def test_a_condorcet_winner_wins_even_when_it_is_nobodys_favourite_by_plurality():
    # 13 beats each other candidate head to head (3-2), yet only one rater ranks it first.
    rankings = [
        [[11], [13], [12], [14]],
        [[11], [13], [14], [12]],
        [[12], [13], [11], [14]],
        [[12], [13], [14], [11]],
        [[13], [14], [12], [11]],
    ]

    merged = ranked_pairs(CANDIDATES, rankings)

    assert merged[0] == [13]


def test_the_order_rankings_arrive_in_never_changes_the_result():
    rng = random.Random(7)
    rankings = []
    for _ in range(6):
        order = CANDIDATES[:]
        rng.shuffle(order)
        rankings.append([[order[0]], [order[1], order[2]], [order[3]]])
    expected_pairs = ranked_pairs(CANDIDATES, rankings)
    expected_scores = bradley_terry(CANDIDATES, rankings)

    for _ in range(20):
        rng.shuffle(rankings)
        assert ranked_pairs(CANDIDATES, rankings) == expected_pairs
        assert bradley_terry(CANDIDATES, rankings) == pytest.approx(expected_scores)


def test_bradley_terry_orders_by_strength_of_record():
    # 11 beats 12 four times out of five; 12 beats 13 four times out of five.
    rankings = [[[11], [12]]] * 4 + [[[12], [11]]] + [[[12], [13]]] * 4 + [[[13], [12]]]

    scores = bradley_terry([11, 12, 13], rankings)

    assert scores[11] > scores[12] > scores[13]
    assert sum(scores.values()) == pytest.approx(0.0, abs=1e-6)
