"""The ranking queue hands out the most informative open comparison first: the promoted
reward model's uncertainty, the raters' disagreement and the wait, weighted per
guideline, with "oldest first" kept; still exact under concurrency."""

import math
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from guidelines.services import guideline_create, version_draft_create, version_publish
from labeling.models import Task
from labeling.queue import task_next_for_user
from labeling.services import prompt_create
from rankings.models import Comparison, QueuePriority
from rankings.priority import (
    AGE_ORIGIN,
    disagreement_of,
    priorities_refresh,
    priority_now,
    priority_of,
    uncertainty_of,
)
from rankings.services import ranking_submit
from rankings.tasks import priorities_refresh as refresh_task
from tests.labeling.conftest import make_users
from tests.labeling.test_queue_concurrency import ask_all_at_once
from tests.rankings.conftest import make_comparison


def test_uncertainty_is_twice_the_mean_chance_of_misordering_a_pair():
    assert uncertainty_of([0.3, 0.3]) == 1.0
    assert uncertainty_of([math.log(3), 0.0]) == pytest.approx(0.5)
    # K-wise: every pair counts, so one close pair among far ones is not full uncertainty.
    gaps = (5.0, 5.2, 0.2)
    expected = sum(2 / (1 + math.exp(gap)) for gap in gaps) / 3
    assert uncertainty_of([0.0, 5.0, 5.2]) == pytest.approx(expected)
    assert uncertainty_of([0.0, 1e6]) == 0.0
    # Scores that are not numbers are unknown, not a gap.
    assert uncertainty_of([1.0, float("nan")]) is None
    assert uncertainty_of([2.0]) is None


def test_disagreement_counts_once_two_raters_ranked():
    assert disagreement_of({"pairwise_agreement": 0.25}, 2) == 0.75
    assert disagreement_of({"pairwise_agreement": 0.25}, 1) == 0.0
    assert disagreement_of({}, 3) == 0.0


def test_the_stored_priority_orders_tasks_as_their_priority_now_does(settings):
    settings.RANKING_PRIORITY_PER_DAY = 0.5
    weights = QueuePriority(weight_uncertainty=1.0, weight_disagreement=1.0)
    now = AGE_ORIGIN + timedelta(days=400)
    old = priority_of(
        weights, uncertainty=0.2, agreement=None, ranking_count=0, created_at=now - timedelta(4)
    )
    new = priority_of(weights, uncertainty=0.2, agreement=None, ranking_count=0, created_at=now)
    # Four days' wait at 0.5 a day, whatever the day it is read.
    assert priority_now(old, now) == pytest.approx(0.2 + 2.0)
    assert priority_now(new, now) == pytest.approx(0.2)
    unsure = priority_of(weights, uncertainty=None, agreement=None, ranking_count=0, created_at=now)
    assert unsure > new
    # Oldest first: every task as an unscored, unranked one, whatever is known of it.
    weights.order = QueuePriority.Order.OLDEST
    known = priority_of(weights, uncertainty=0.1, agreement=None, ranking_count=0, created_at=now)
    assert priority_now(known, now) == pytest.approx(1.0)


def _scored(comparison: Comparison, uncertainty: float) -> Comparison:
    Comparison.objects.filter(pk=comparison.pk).update(uncertainty=uncertainty, scored_by=1)
    return comparison


@pytest.mark.django_db
def test_the_queue_hands_out_the_task_the_model_is_least_sure_of_first(
    guideline, prompt, read, erin
):
    sure, unsure, middling = (make_comparison(prompt, k=2, overlap=1) for _ in range(3))
    for comparison, value in ((sure, 0.05), (unsure, 0.97), (middling, 0.5)):
        _scored(comparison, value)
    assert priorities_refresh(guideline_id=guideline.pk) == 3
    read(erin)

    first = task_next_for_user(user=erin, kind="ranking")
    assert first.task_id == unsure.task_id

    # "Oldest first" for the guideline: by age alone, whatever the ids say.
    now = timezone.now()
    for comparison, days in ((sure, 1), (unsure, 3), (middling, 5)):
        Comparison.objects.filter(pk=comparison.pk).update(created_at=now - timedelta(days))
    QueuePriority.objects.create(guideline=guideline, order=QueuePriority.Order.OLDEST)
    refresh_task(guideline.pk)
    ordered = Task.objects.filter(kind="ranking").order_by("-priority", "id")
    assert list(ordered.values_list("pk", flat=True)) == [
        middling.task_id,
        unsure.task_id,
        sure.task_id,
    ]


@pytest.mark.django_db
def test_a_new_comparison_waits_unscored_at_full_uncertainty(guideline, prompt):
    scored = _scored(make_comparison(prompt, k=2), 0.3)
    priorities_refresh(comparison_ids=[scored.pk])
    fresh = make_comparison(prompt, k=2)

    assert fresh.task.priority > Task.objects.get(pk=scored.task_id).priority


@pytest.mark.django_db
def test_raters_who_disagree_raise_what_is_left_of_a_comparison(guideline, prompt, read, erin):
    from accounts.services import user_create

    dave = user_create(username="dave", password="a-long-test-password-42", roles=["reviewer"])
    read(erin, dave)
    comparison = _scored(make_comparison(prompt, k=2, overlap=3), 0.1)
    priorities_refresh(comparison_ids=[comparison.pk])
    before = Task.objects.get(pk=comparison.task_id).priority
    a, b = sorted(comparison.candidates.values_list("id", flat=True))
    for rater, order in ((erin, [[a], [b]]), (dave, [[b], [a]])):
        assert task_next_for_user(user=rater, kind="ranking").task_id == comparison.task_id
        ranking_submit(rater=rater, comparison_id=comparison.pk, ranking=order)

    after = Task.objects.get(pk=comparison.task_id).priority
    # Two raters, opposite orders: agreement 0, disagreement 1 at weight 1.
    assert after == pytest.approx(before + 1.0)


@pytest.mark.parametrize("overlap", [1, 3])
def test_forty_raters_on_prioritised_comparisons_get_exactly_the_wanted_leases(
    transactional_db, guideline, prompt, overlap
):
    comparisons = [make_comparison(prompt, k=2, overlap=overlap) for _ in range(8)]
    for index, comparison in enumerate(comparisons):
        _scored(comparison, index / 10)
    priorities_refresh(guideline_id=guideline.pk)
    raters = make_users(40, "reviewer", guideline)

    leases, errors = ask_all_at_once(raters, kind="ranking")

    assert errors == []
    assert len(leases) == 8 * overlap
    assert set(Counter(task for task, _ in leases).values()) == {overlap}


def test_a_few_raters_take_the_most_uncertain_tasks_whatever_their_age(
    transactional_db, guideline, prompt
):
    comparisons = [make_comparison(prompt, k=2, overlap=1) for _ in range(6)]
    Comparison.objects.filter(pk__in=[c.pk for c in comparisons]).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    fresh_unsure = [_scored(make_comparison(prompt, k=2, overlap=1), 0.99) for _ in range(2)]
    for comparison in comparisons:
        _scored(comparison, 0.01)
    priorities_refresh(guideline_id=guideline.pk)
    raters = make_users(2, "reviewer", guideline)

    leases, errors = ask_all_at_once(raters, kind="ranking")

    assert errors == []
    assert {task for task, _ in leases} == {c.task_id for c in fresh_unsure}


@pytest.mark.django_db
def test_tasks_of_two_guidelines_compare_on_one_scale(guideline, prompt, read, erin, carol):
    from guidelines.services import acknowledgement_create

    other = guideline_create(slug="other", title="Other")
    version_publish(
        version=version_draft_create(guideline=other, body="# Other\n", summary="", author=carol)
    )
    acknowledgement_create(user=erin, version=other.versions.get(status="published"))
    QueuePriority.objects.create(guideline=other, order=QueuePriority.Order.OLDEST)
    other_prompt = prompt_create(
        author=carol,
        guideline=other,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "Name a river."}],
    )
    # Wanting two raters each: one rater's lease leaves the other free to take either.
    waited = make_comparison(other_prompt, k=2, overlap=2)
    fresh_unsure = _scored(make_comparison(prompt, k=2, overlap=2), 0.9)
    Comparison.objects.filter(pk=waited.pk).update(created_at=timezone.now() - timedelta(days=30))
    priorities_refresh()
    read(erin)

    # 30 days at 0.05 a day (1.5) outweigh the other guideline's fresh 0.9 against 1.0:
    # an "oldest first" guideline's tasks neither starve nor crowd out the others.
    assert task_next_for_user(user=erin, kind="ranking").task_id == waited.task_id

    Comparison.objects.filter(pk=waited.pk).update(created_at=timezone.now())
    Comparison.objects.filter(pk=fresh_unsure.pk).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    priorities_refresh()
    # Now the other guideline's task waited 30 days (0.9 + 1.5 against 1.0): it goes
    # first, where storing 0 for "oldest first" would have kept that guideline ahead.
    dave = make_users(1, "reviewer", guideline)[0]
    acknowledgement_create(user=dave, version=other.versions.get(status="published"))
    assert task_next_for_user(user=dave, kind="ranking").task_id == fresh_unsure.task_id
