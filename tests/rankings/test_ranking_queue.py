from collections import Counter

from tests.labeling.conftest import make_users
from tests.labeling.test_queue_concurrency import ask_all_at_once
from tests.rankings.conftest import make_comparison


def test_fifty_raters_on_ten_comparisons_wanting_three_get_exactly_thirty_leases(
    transactional_db, guideline, prompt
):
    for _ in range(10):
        make_comparison(prompt, k=3, overlap=3)
    raters = make_users(50, "reviewer", guideline)

    leases, errors = ask_all_at_once(raters, kind="ranking")

    assert errors == []
    assert len(leases) == 30
    assert set(Counter(task for task, _ in leases).values()) == {3}
