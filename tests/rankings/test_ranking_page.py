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


def test_a_reviewer_who_opted_out_is_not_handed_it_and_is_warned_on_one_shown(
    api, client, bob, read, prompt, guideline, carol
):
    from labeling.models import Prompt
    from labeling.services import prompt_create

    violent = prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "Describe the battle."}],
    )
    Prompt.objects.filter(pk=violent.pk).update(sensitive_category="violence")
    make_comparison(violent, k=2, overlap=1)
    read(bob)

    # Reviewers keep opt-outs as labelers do, through the API and their page.
    api.force_authenticate(bob)
    answer = api.put("/api/me/opt-outs/", {"sensitive_opt_outs": ["violence"]}, format="json")
    assert answer.status_code == 200 and answer.json() == {"sensitive_opt_outs": ["violence"]}
    assert api.post("/api/tasks/next/", {"kind": "ranking"}, format="json").status_code == 204
    client.force_login(bob)
    assert client.get("/work/mine/").status_code == 200

    # Without the opt-out it is handed out, behind a warning: prompt and replies hidden.
    api.put("/api/me/opt-outs/", {"sensitive_opt_outs": []}, format="json")
    page = client.post("/work/ranking/next/", follow=True).content.decode()
    assert "Content warning:" in page and "Violence" in page
    assert 'aria-label="Conversation" hidden data-until-revealed' in page
    assert 'class="ranking-form" hidden data-until-revealed' in page


def test_the_agreement_page_says_why_a_rater_alone_on_a_comparison_has_no_agreement(
    api, client, bob, carol, read, prompt
):
    comparison = make_comparison(prompt, k=2, overlap=1)
    read(bob)
    api.force_authenticate(bob)
    assert api.post("/api/tasks/next/", {"kind": "ranking"}, format="json").status_code == 200
    ids = sorted(comparison.candidates.values_list("pk", flat=True))
    ranked = api.post(
        f"/api/comparisons/{comparison.pk}/rankings/",
        {"ranking": [[ids[0]], [ids[1]]]},
        format="json",
    )
    assert ranked.status_code == 201, ranked.content

    client.force_login(carol)
    page = client.get("/rankings/agreement/").content.decode()
    row = page[page.index("<td>bob</td>") :].split("</tr>")[0]
    assert "no comparison ranked by another rater too" in row
