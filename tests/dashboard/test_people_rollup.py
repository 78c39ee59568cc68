"""The per-person days behind the People pages (dashboard/people_rollup.py): an incremental
refresh must end where a full recount does, also when older days changed since."""

import random
import statistics
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import user_create
from dashboard.models import PersonDay, Rollup
from dashboard.rollup import rollup_refresh
from dashboard.selectors import histogram_median, people_figures
from guidelines.services import acknowledgement_create
from labeling.models import Demonstration
from labeling.services import demonstration_revise, prompt_create
from tests.conftest import PASSWORD
from tests.dashboard.known_data import build, rank, review, write

pytestmark = pytest.mark.django_db

FIVE_DAYS = timedelta(days=5)


@pytest.fixture
def flywheel(alice, bob, carol, settings):
    settings.LABELING_PAY_PER_APPROVED = 3.0
    return build(alice=alice, bob=bob, carol=carol)


def person_days() -> list[tuple]:
    fields = [f.attname for f in PersonDay._meta.concrete_fields if f.attname != "id"]
    return sorted(PersonDay.objects.values_list(*fields))


def figures(user) -> object:
    (one,) = people_figures(days=30, user_id=user.pk)
    return one


def test_an_incremental_refresh_ends_where_a_full_recount_does(flywheel, alice, bob, carol):
    # alice wrote a third reply five days ago (120 s), which bob sends back today.
    prompt_create(
        author=carol,
        guideline=flywheel.a.task.guideline,
        messages=[{"role": "user", "content": "Describe a storm."}],
        require_acknowledgement=False,
        flag_near_duplicates=False,
    )
    old = write(alice, 120)
    five_days_ago = timezone.now() - FIVE_DAYS
    Demonstration.objects.filter(pk=old.pk).update(
        created_at=five_days_ago, updated_at=five_days_ago
    )
    rollup_refresh(full=True)
    assert figures(alice).median_seconds == 120  # 120, 120 and 300 s

    # Since: she revises it (60 s more) and bob approves; frank and gina rank B, eight
    # days old, against bob and erin, which moves B's consensus to a tie.
    review(bob, "revise", 20)
    demonstration_revise(
        author=alice, demonstration_id=old.pk, content="A better answer.", time_spent_s=60
    )
    review(bob, "approve", 25)
    gina = user_create(username="gina", password=PASSWORD, roles=["reviewer"])
    acknowledgement_create(user=gina, version=flywheel.b.prompt.guideline_version)
    flywheel.b.task.wanted = 4
    flywheel.b.task.status = "open"
    flywheel.b.task.save(update_fields=["wanted", "status"])
    rank(flywheel.frank, flywheel.b, [1, 0], 25)
    rank(gina, flywheel.b, [1, 0], 35)

    rollup_refresh()
    incremental = person_days()
    alice_now, bob_now = figures(alice), figures(bob)
    rollup_refresh(full=True)

    assert incremental == person_days()
    assert alice_now.median_seconds == 180  # 120, 180 and 300 s
    assert alice_now.approved == 2
    # bob's B ranking (x>y) no longer matches its consensus: a tie after frank's y>x.
    assert (bob_now.consensus_alike, bob_now.consensus_pairs) == (3, 5)


def test_a_window_counts_only_its_own_times_on_task(flywheel, bob):
    rollup_refresh()

    (week,) = people_figures(days=7, user_id=bob.pk)
    (year,) = people_figures(days=365, user_id=bob.pk)

    # The week leaves out B, eight days old (10 s): reviews 30, 50 s, rankings 40, 5 s.
    assert week.seconds == {"reviews": {30: 1, 50: 1}, "rankings": {40: 1, 5: 1}}
    assert week.median_seconds == 35
    assert year.seconds["rankings"] == {10: 1, 40: 1, 5: 1}
    assert year.median_seconds == 30


def test_the_median_of_value_counts_is_the_median_of_the_values():
    draw = random.Random(7)
    for size in (1, 2, 3, 10, 51):
        values = [draw.randint(1, 12) for _ in range(size)]
        counts = {v: values.count(v) for v in set(values)}

        assert histogram_median(counts) == statistics.median(values)
    assert histogram_median({}) is None


def test_a_dashboard_counted_before_the_people_days_counts_them_in_full_once(
    client, carol, flywheel, bob
):
    rollup_refresh()
    # As an upgraded database stands: tallies refreshed, no per-person days yet.
    PersonDay.objects.all().delete()
    Rollup.objects.update(people_counted=False)
    client.force_login(carol)
    waiting = client.get("/dashboard/people/").content.decode()

    rollup_refresh()

    assert 'data-testid="people-not-counted"' in waiting
    assert figures(bob).counts["rankings"] == 3  # B, eight days old, counted too
    assert Rollup.objects.get().people_counted
    assert "people-not-counted" not in client.get("/dashboard/people/").content.decode()


def test_recount_now_comes_back_to_the_page_it_was_asked_from_on_this_site(client, carol):
    client.force_login(carol)

    back = client.post("/dashboard/refresh/", {"next": "/dashboard/people/?days=7"})
    elsewhere = client.post("/dashboard/refresh/", {"next": "https://elsewhere.example/"})

    assert back.status_code == elsewhere.status_code == 302
    assert back["Location"] == "/dashboard/people/?days=7"
    assert elsewhere["Location"] == "/dashboard/"
