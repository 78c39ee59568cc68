"""A reviewer and a sensitive comparison in Chromium: opted out, it is never handed out;
otherwise the ranking page warns first, and nothing can be judged or sent unseen."""

import pytest
from playwright.sync_api import expect

from labeling.models import Prompt
from rankings.models import Ranking
from rankings.services import comparison_create
from tests.browser.conftest import log_in, prompt_to_rank
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def violent_pair(bob, carol):
    prompt = prompt_to_rank(author=carol, reviewer=bob, text="Describe the battle.")
    Prompt.objects.filter(pk=prompt.pk).update(sensitive_category="violence")
    # Two of them: the one skipped is never handed out again anyway, the other only the
    # opt-out keeps away.
    return [
        comparison_create(
            prompt=prompt,
            overlap=1,
            candidates=[{"content": "A calm account."}, {"content": "A graphic account."}],
        )
        for _ in range(2)
    ]


def test_a_reviewer_is_warned_before_a_sensitive_pair_and_may_opt_out(new_page, violent_pair, bob):
    reviewer = new_page()
    log_in(reviewer, "bob", PASSWORD)
    reviewer.get_by_role("link", name="Rank replies").click()

    expect(reviewer.get_by_role("alert")).to_contain_text("Content warning")
    expect(reviewer.get_by_text("Describe the battle.")).to_be_hidden()
    expect(reviewer.get_by_text("A graphic account.")).to_be_hidden()
    # Keys and Ctrl+Enter do nothing while the replies are hidden.
    reviewer.keyboard.press("1")
    reviewer.keyboard.press("Control+Enter")
    reviewer.wait_for_timeout(500)
    assert not Ranking.objects.exists()

    reviewer.get_by_role("button", name="Show the prompt and the replies").click()
    expect(reviewer.get_by_text("A graphic account.")).to_be_visible()
    expect(reviewer.get_by_text("Describe the battle.")).to_be_visible()

    # Given back, then opted out on their own page: the reviewer is handed nothing of it.
    reviewer.get_by_role("button", name="Skip").click()
    reviewer.goto("/work/mine/")
    reviewer.get_by_label("Violence").check()
    reviewer.get_by_role("button", name="Save").click()
    expect(reviewer.get_by_text("choices are saved")).to_be_visible()
    reviewer.goto("/")
    reviewer.get_by_role("link", name="Rank replies").click()
    expect(reviewer.get_by_text("Describe the battle.")).to_have_count(0)
