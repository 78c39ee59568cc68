import pytest
from playwright.sync_api import expect

from rankings.models import Ranking
from rankings.services import comparison_create, shown_order
from tests.browser.conftest import log_in, prompt_to_rank
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def comparisons(bob, carol):
    prompt = prompt_to_rank(author=carol, reviewer=bob, text="Why is the sea salty?")
    four = comparison_create(
        prompt=prompt,
        overlap=1,
        candidates=[{"content": f"Reply number {i}", "model": f"m{i}"} for i in range(4)],
    )
    two = comparison_create(
        prompt=prompt,
        overlap=1,
        candidates=[
            {"content": "Rivers carry minerals.", "model": "a"},
            {"content": "Fish cry.", "model": "b"},
        ],
    )
    return four, two


def test_a_reviewer_ranks_by_keyboard_with_a_tie_then_a_pair_and_an_admin_sees_consensus(
    new_page, comparisons, bob, carol
):
    four, two = comparisons
    reviewer = new_page()
    log_in(reviewer, "bob", PASSWORD)
    reviewer.get_by_role("link", name="Rank replies").click()
    expect(reviewer.get_by_role("heading", name="Rank 4 replies")).to_be_visible()
    reviewer.wait_for_load_state()

    # The first reply shown has the focus; each key puts the focused reply in that rank and
    # moves on: ranks 2, 1, 2, 3 make the first and third shown replies a tie.
    for key in ("2", "1", "2", "3"):
        reviewer.keyboard.press(key)
    expect(reviewer.locator('[data-bucket="2"] .candidate')).to_have_count(2)
    reviewer.keyboard.press("Control+Enter")

    expect(reviewer.get_by_role("heading", name="Compare two replies")).to_be_visible()
    reviewer.wait_for_load_state()
    reviewer.keyboard.press("6")  # "B is better": strength 2 for the second shown reply
    reviewer.keyboard.press("Control+Enter")
    expect(reviewer.get_by_role("heading", name="Nothing to do right now")).to_be_visible()

    shown = shown_order(comparison=four, rater_id=bob.pk)
    assert Ranking.objects.get(comparison=four).ranking == [
        [shown[1]],
        sorted([shown[0], shown[2]]),
        [shown[3]],
    ]
    pair = Ranking.objects.get(comparison=two)
    a, b = shown_order(comparison=two, rater_id=bob.pk)
    assert (pair.ranking, pair.strength) == ([[b], [a]], 2)

    admin = new_page()
    log_in(admin, "carol", PASSWORD)
    admin.goto(f"/rankings/comparisons/{four.pk}/")
    expect(admin.get_by_test_id("ranked-pairs").locator("li")).to_have_count(3)
    expect(admin.get_by_test_id("ranked-pairs").locator("li").first).to_contain_text(f"#{shown[1]}")
    expect(admin.get_by_test_id("agreement")).to_contain_text("Krippendorff")
    admin.goto("/rankings/agreement/")
    expect(admin.get_by_test_id("raters")).to_contain_text("bob")
