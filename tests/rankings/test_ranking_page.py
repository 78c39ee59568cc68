"""The ranking page's form: a rank or a Likert score that is not a whole number in ASCII
digits is refused with the form shown again and what was wrong, never a server error."""

import pytest

from rankings.models import Ranking
from rankings.selectors import comparison_candidates_shown
from tests.rankings.conftest import make_comparison

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("field", ["rank", "likert"])
def test_a_number_in_other_digits_is_refused_on_the_page(client, bob, read, prompt, field):
    comparison = make_comparison(prompt, k=3, overlap=1)
    read(bob)
    client.force_login(bob)
    page = client.post("/work/ranking/next/", follow=True)
    shown = [c["id"] for c in comparison_candidates_shown(comparison=comparison, rater_id=bob.pk)]
    ranks = {f"rank_{c}": "²" if field == "rank" else str(i + 1) for i, c in enumerate(shown)}

    answer = client.post(page.redirect_chain[-1][0], {**ranks, f"likert_{shown[0]}": "²"})

    said = "Give every reply a rank" if field == "rank" else "Scores are whole numbers"
    assert answer.status_code == 400 and said in answer.content.decode()
    assert not Ranking.objects.exists()
