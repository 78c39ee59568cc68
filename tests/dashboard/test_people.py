"""The People pages: each labeler's and reviewer's figures on the known flywheel
(tests/dashboard/known_data.py), worked out by hand."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.rollup import rollup_refresh
from labeling.selectors import labeler_totals
from tests.dashboard.known_data import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def flywheel(alice, bob, carol, settings):
    settings.LABELING_PAY_PER_APPROVED = 3.0
    built = build(alice=alice, bob=bob, carol=carol)
    rollup_refresh()  # the pages read the per-person days that beat keeps fresh
    return built


def people_rows(client, query: str = "") -> dict[str, dict[str, str]]:
    response = client.get(f"/dashboard/people/{query}")
    assert response.status_code == 200
    html = response.content.decode()
    # The wide layout: every column of the table fits at 1280 px.
    assert '<main class="wide">' in html
    rows = {}
    for name, cells in re.findall(r'<tr data-person="(.*?)">(.*?)</tr>', html, re.S):
        rows[name] = {
            col: " ".join(re.sub(r"<.*?>", "", value).split())
            for col, value in re.findall(r'<td data-col="(.*?)">(.*?)</td>', cells, re.S)
        }
    return rows


def test_each_persons_figures_are_the_known_ones(client, carol, flywheel):
    client.force_login(carol)

    rows = people_rows(client)

    assert rows["alice"] == {
        "demonstrations": "2",
        "reviews": "0",
        "rankings": "0",
        "per-day": "0.07",  # 2 items in 30 days
        "median": "210 s",  # 120 s and 300 s
        "consensus": "\u2013",
        "gold": "\u2013",
        "pay": "25.71",  # 3.00 x 1 approved / (420 s / 3600)
        "opt-outs": "Self-harm, Violence or gore",
    }
    # bob: 2 reviews (30, 50 s), rankings of B (10), A (40), G (5): median of 5 is 30 s.
    # Consensus: A a>b>c, all 3 pairs his; B 1 of 1; G is a tie he broke: 4 of 5 pairs.
    assert rows["bob"] == {
        "demonstrations": "0",
        "reviews": "2",
        "rankings": "3",
        "per-day": "0.17",
        "median": "30 s",
        "consensus": "0.800 of 5 pairs",
        "gold": "1.000 of 1 pairs",
        "pay": "\u2013",
        "opt-outs": "\u2013",
    }
    # erin put c above b on A (2 of 3), agreed on B, broke G's tie the wrong way.
    assert rows["erin"]["consensus"] == "0.600 of 5 pairs"
    assert rows["erin"]["gold"] == "0.000 of 1 pairs"
    assert rows["erin"]["median"] == "30 s"  # 30, 60, 15
    assert rows["frank"]["consensus"] == "1.000 of 3 pairs"
    # Admins without work, people without a role and import accounts are not listed.
    assert set(rows) == {"alice", "bob", "erin", "frank"}


def test_a_shorter_window_leaves_out_older_work(client, carol, flywheel):
    client.force_login(carol)

    rows = people_rows(client, "?days=7")
    unknown_window = people_rows(client, "?days=all")

    # B was ranked eight days ago.
    assert rows["bob"]["rankings"] == "2"
    assert rows["bob"]["per-day"] == "0.57"  # 2 reviews + 2 rankings over 7 days
    assert rows["bob"]["consensus"] == "0.750 of 4 pairs"
    assert unknown_window["bob"]["rankings"] == "3"  # the default 30 days


def test_pay_per_hour_is_what_the_labeler_sees_on_their_own_page(client, carol, alice, flywheel):
    # All of alice's work is in the window, and her own page counts all of it.
    client.force_login(carol)

    rows = people_rows(client, "?days=90")

    assert rows["alice"]["pay"] == f"{labeler_totals(author=alice)['pay_per_hour']:.2f}"


def test_a_person_page_shows_their_figures_plot_and_recent_work(client, carol, bob, flywheel):
    client.force_login(carol)

    response = client.get(f"/dashboard/people/{bob.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-figure="consensus">0.800 of 5 pairs' in html
    assert 'data-chart="person-per-day"' in html and "<desc" in html
    for comparison in (flywheel.a, flywheel.b, flywheel.g):
        assert f'href="/rankings/comparisons/{comparison.pk}/"' in html
    assert html.count("Approve:") + html.count("Reject:") == 2


def test_a_labelers_page_lists_their_demonstrations(client, carol, alice, flywheel):
    client.force_login(carol)

    html = client.get(f"/dashboard/people/{alice.pk}/").content.decode()

    assert 'data-figure="opt-outs">Self-harm, Violence or gore' in html
    assert html.count("<details><summary>") == 2
    assert "Approved" in html and "Rejected" in html


def test_import_accounts_and_strangers_have_no_person_page(client, carol, dave, flywheel):
    client.force_login(carol)
    source = get_user_model().objects.get(username="source:hh-rlhf")

    assert client.get(f"/dashboard/people/{source.pk}/").status_code == 404
    assert client.get(f"/dashboard/people/{dave.pk}/").status_code == 404
    assert client.get("/dashboard/people/999999/").status_code == 404


def test_the_number_of_queries_does_not_grow_with_the_number_of_people(client, carol, flywheel):
    client.force_login(carol)
    with CaptureQueriesContext(connection) as few:
        people_rows(client)
    User = get_user_model()
    more = User.objects.bulk_create([User(username=f"labeler-{i}") for i in range(30)])
    Group.objects.get(name="labeler").user_set.add(*more)

    with CaptureQueriesContext(connection) as many:
        rows = people_rows(client)

    assert len(rows) == 34
    assert len(many) == len(few)


@pytest.mark.parametrize("who", ["alice", "bob", "dave"])
def test_only_admins_see_people(client, who, request, flywheel):
    user = request.getfixturevalue(who)
    client.force_login(user)

    assert client.get("/dashboard/people/").status_code == 403
    assert client.get(f"/dashboard/people/{user.pk}/").status_code == 403


def test_reviews_and_rankings_are_paid_where_their_rates_are_set(
    client, carol, bob, flywheel, settings
):
    settings.LABELING_PAY_PER_REVIEW = 0.5
    settings.LABELING_PAY_PER_RANKING = 0.2
    client.force_login(carol)

    rows = people_rows(client)

    # bob: 2 reviews (30 + 50 s) and 3 rankings (10 + 40 + 5 s): 1.60 over 135 s.
    assert rows["bob"]["pay"] == "42.67"
    # alice's approved demonstration still earns over its own hours alone.
    assert rows["alice"]["pay"] == "25.71"
    assert labeler_totals(author=bob)["pay_per_hour"] == pytest.approx(42.6667, abs=1e-3)
    client.force_login(bob)
    mine = client.get("/work/mine/").content.decode()
    assert "2 reviews · 3 rankings" in mine and "effective pay 42.67 per hour" in mine
