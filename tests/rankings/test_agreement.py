"""Agreement values against examples worked out by hand (the arithmetic is in comments)."""

import pytest

from rankings.agreement import (
    RatedRanking,
    gold_accuracy,
    krippendorff_alpha,
    pair_values,
    pairwise_agreement,
    position_bias,
    rater_agreement,
    raters_far_below,
    unit_values,
)

# Three comparisons of two candidates, two raters (7 and 8):
#   comparison 1: both put 1 above 2            -> values (+1, +1)
#   comparison 2: both put 4 above 3            -> values (-1, -1)
#   comparison 3: rater 7 puts 5 above 6, 8 ties -> values (+1,  0)
EXAMPLE = [
    RatedRanking(1, 7, [[1], [2]]),
    RatedRanking(1, 8, [[1], [2]]),
    RatedRanking(2, 7, [[4], [3]]),
    RatedRanking(2, 8, [[4], [3]]),
    RatedRanking(3, 7, [[5], [6]]),
    RatedRanking(3, 8, [[5, 6]]),
]


def test_pair_values_read_a_ranking_with_ties():
    assert pair_values([[3], [1, 4], [2]]) == {
        (1, 2): 1,
        (1, 3): -1,
        (1, 4): 0,
        (2, 3): -1,
        (2, 4): -1,
        (3, 4): 1,
    }


def test_pairwise_agreement_by_hand():
    # Two of the three units have equal values: 2/3.
    assert pairwise_agreement(unit_values(EXAMPLE)) == pytest.approx(2 / 3)


def test_krippendorff_ordinal_alpha_by_hand():
    # Values -1 < 0 < +1 with counts n(-1)=2, n(0)=1, n(+1)=3, n=6.
    # Ordinal distances: d(-1,0)=(3-1.5)^2=2.25, d(0,+1)=(4-2)^2=4, d(-1,+1)=(6-2.5)^2=12.25.
    # Observed: only unit 3 disagrees: Do = (1/6)(4+4) = 4/3.
    # Expected: De = 2(2*1*2.25 + 1*3*4 + 2*3*12.25)/(6*5) = 180/30 = 6.
    # alpha = 1 - (4/3)/6 = 7/9.
    assert krippendorff_alpha(unit_values(EXAMPLE)) == pytest.approx(7 / 9)


def test_alpha_is_undefined_without_two_raters_or_without_variation():
    assert krippendorff_alpha(unit_values(EXAMPLE[:1])) is None
    same = [RatedRanking(1, 7, [[1], [2]]), RatedRanking(1, 8, [[1], [2]])]
    assert krippendorff_alpha(unit_values(same)) is None


def test_each_rater_agrees_with_the_others_on_their_shared_units():
    three = [*EXAMPLE, RatedRanking(1, 9, [[2], [1]])]

    per_rater = rater_agreement(unit_values(three))

    # Unit (1,1,2): 7 and 8 agree, 9 disagrees with both. Units 2 and 3 as before.
    assert per_rater[9] == (0.0, 2)
    assert per_rater[7] == pytest.approx((2 / 4, 4))  # agrees with 8 on units 1, 2
    assert per_rater[8] == pytest.approx((2 / 4, 4))


def test_position_bias_counts_the_first_shown_in_the_top_group():
    rankings = [
        RatedRanking(1, 7, [[1], [2]], shown=[1, 2]),  # first shown wins: 1
        RatedRanking(1, 8, [[1], [2]], shown=[2, 1]),  # loses: 0
        RatedRanking(2, 7, [[3, 4], [5], [6]], shown=[4, 3, 5, 6]),  # shares first of two: 1/2
    ]

    bias = position_bias(rankings)

    assert bias["first_shown_wins"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert bias["chance"] == pytest.approx((1 / 2 + 1 / 2 + 1 / 4) / 3)


def test_gold_accuracy_is_the_share_of_pairs_matching_the_known_order():
    gold = {5: [[1], [2], [3]]}
    rankings = [
        RatedRanking(5, 7, [[1], [3], [2]]),
        RatedRanking(5, 8, [[1], [2], [3]]),
        RatedRanking(6, 7, [[9], [8]]),
    ]

    accuracy = gold_accuracy(rankings, gold)

    assert accuracy == {7: (pytest.approx(2 / 3), 3), 8: (1.0, 3)}


def test_a_rater_far_below_the_others_is_listed():
    agreement = {
        1: (0.74, 50),
        2: (0.71, 50),
        3: (0.76, 50),
        4: (0.73, 50),
        5: (0.31, 50),
        6: (0.20, 3),
    }

    assert raters_far_below(agreement) == [5]  # 6 has too few judgements to judge
