"""What an AI rater is asked and how its answers are read, without a server."""

import pytest

from ai_feedback.prompts import (
    UnreadableAnswer,
    guideline_sections,
    orders_merged,
    rank_messages,
    ranking_read,
)


@pytest.mark.parametrize(
    ("answer", "count", "groups"),
    [
        ("A > B", 2, [[0], [1]]),
        ("b>a", 2, [[1], [0]]),
        ("A = B", 2, [[0, 1]]),
        ("Ranking: C > A = B.", 3, [[2], [0, 1]]),
        ("  answer: B > C > A  ", 3, [[1], [2], [0]]),
    ],
)
def test_a_ranking_is_read_as_groups_of_shown_positions(answer, count, groups):
    assert ranking_read(answer, count) == groups


@pytest.mark.parametrize(
    ("answer", "count", "why"),
    [
        ("A > B", 3, "not each of A B C once"),
        ("A > A", 2, "not each of A B once"),
        ("A > C", 2, "not each of A B once"),
        ("Reply A is better", 2, "not a ranking"),
        ("A > B because it is kind", 2, "not a ranking"),
        ("", 2, "not a ranking"),
    ],
)
def test_anything_but_each_letter_once_is_unreadable(answer, count, why):
    with pytest.raises(UnreadableAnswer, match=why):
        ranking_read(answer, count)


def test_a_rater_that_always_puts_the_first_shown_first_ties_when_asked_both_ways():
    shown = [7, 3, 5]
    always_first = [[0], [1], [2]]
    merged = orders_merged([(shown, always_first), (shown[::-1], always_first)])
    assert merged == [[3, 5, 7]]


def test_a_rater_that_agrees_with_itself_in_both_orders_keeps_its_order():
    # Candidate 3 best, then 7, then 5, whichever order they were shown in.
    forward = ([7, 3, 5], [[1], [0], [2]])
    backward = ([5, 3, 7], [[1], [2], [0]])
    assert orders_merged([forward, backward]) == [[3], [7], [5]]


def test_a_pair_judged_both_ways_differently_is_a_tie():
    assert orders_merged([([1, 2], [[0], [1]]), ([2, 1], [[0], [1]])]) == [[1, 2]]


def test_the_rank_question_shows_each_reply_under_its_letter_and_the_guideline():
    messages = rank_messages("# Be kind", [{"role": "user", "content": "Hi?"}], ["Hello.", "Go."])
    assert "# Be kind" in messages[0]["content"]
    assert "Reply A:\nHello.\n\nReply B:\nGo." in messages[1]["content"]
    assert messages[1]["content"].endswith("Rank replies A, B from best to worst.")


def test_a_guideline_is_cut_into_sections_at_its_headings():
    body = "Intro, in no section.\n# Helpful\nAnswer it.\n\n## Harmless ##\nNever harm.\n"
    assert guideline_sections(body) == {
        "Helpful": "# Helpful\nAnswer it.",
        "Harmless": "## Harmless ##\nNever harm.",
    }
