"""The ranking queue's weights per guideline over HTTP and on its page: admins only, bad
input a 400 that changes nothing, and a change re-orders the open tasks through a real
worker."""

import time
from datetime import timedelta

import pytest
from django.db.models import F

from labeling.models import Task
from labeling.queue import task_next_for_user
from rankings.models import Comparison, QueuePriority
from rankings.priority import priority_of
from rankings.priority_settings import priorities_owed_refresh
from rankings.services import ranking_submit
from tests.rankings.conftest import make_comparison

URL = "/api/rankings/queue-priority/"


def test_weights_change_through_the_api_and_a_worker_reorders_the_tasks(
    api, carol, guideline, prompt, worker
):
    comparison = make_comparison(prompt, k=2)
    Comparison.objects.filter(pk=comparison.pk).update(uncertainty=0.4)
    api.force_authenticate(carol)

    listed = api.get(URL)
    assert listed.status_code == 200
    row = next(r for r in listed.json() if r["guideline"] == guideline.pk)
    assert row["order"] == "priority" and row["saved"] is False and row["open_tasks"] == 1
    assert row["unscored"] == 0 and [b["tasks"] for b in row["uncertainty_bars"]] == [
        0,
        0,
        1,
        0,
        0,
    ]

    changed = api.put(
        f"{URL}{guideline.pk}/",
        {"weight_uncertainty": 10},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["weight_uncertainty"] == 10 and changed.json()["saved"] is True
    assert changed.json()["reordering"] == "queued"
    expected = priority_of(
        QueuePriority(weight_uncertainty=10),
        uncertainty=0.4,
        agreement=None,
        ranking_count=0,
        created_at=comparison.created_at,
    )
    deadline = time.monotonic() + 60
    while Task.objects.get(pk=comparison.task_id).priority != pytest.approx(expected):
        assert time.monotonic() < deadline, "the worker never re-ordered the task"
        time.sleep(0.3)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({"order": "newest"}, "order"),
        ({"weight_uncertainty": -1}, "weight_uncertainty"),
        ({"weight_uncertainty": "inf"}, "weight_uncertainty"),
        ({"weight_uncertainty": "a lot"}, "weight_uncertainty"),
        ({"weight_disagreement": 1e9}, "weight_disagreement"),
        ({"weight_disagreement": True}, "weight_disagreement"),
        ({"speed": 2}, "speed"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field_and_save_nothing(
    api, carol, guideline, body, field
):
    api.force_authenticate(carol)

    answer = api.put(f"{URL}{guideline.pk}/", body, format="json")

    assert answer.status_code == 400
    assert field in answer.json()
    assert not QueuePriority.objects.exists()


@pytest.mark.django_db
def test_only_admins_see_or_set_the_queue_priority(api, client, erin, guideline):
    api.force_authenticate(erin)
    assert api.get(URL).status_code == 403
    assert api.put(f"{URL}{guideline.pk}/", {"order": "oldest"}, format="json").status_code == 403
    assert api.get(f"{URL}{guideline.pk + 1000}/").status_code == 403
    client.force_login(erin)
    assert client.get("/rankings/queue/").status_code == 403
    assert not QueuePriority.objects.exists()


@pytest.mark.django_db
def test_the_page_shows_the_open_tasks_and_saves_the_order(
    client, carol, erin, read, guideline, prompt
):
    unsure = make_comparison(prompt, k=2, overlap=2)
    Comparison.objects.filter(pk=unsure.pk).update(uncertainty=0.9)
    read(erin)
    assert task_next_for_user(user=erin, kind="ranking").task_id == unsure.task_id
    ranking_submit(
        rater=erin, comparison_id=unsure.pk, ranking=[[c.pk] for c in unsure.candidates.all()]
    )
    make_comparison(prompt, k=2)
    client.force_login(carol)

    page = client.get("/rankings/queue/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "2 open ranking tasks, 1 not scored" in text
    assert "1 of the 1 on scored tasks went to high-uncertainty ones" in text

    refused = client.post(
        "/rankings/queue/",
        {"guideline": guideline.pk, "order": "priority", "weight_disagreement": "-2"},
    )
    assert refused.status_code == 400 and "A number from 0 to 100" in refused.content.decode()

    saved = client.post("/rankings/queue/", {"guideline": guideline.pk, "order": "oldest"})
    assert saved.status_code == 302
    assert QueuePriority.objects.get(guideline=guideline).order == "oldest"
    overview = client.get("/dashboard/").content.decode()
    assert 'data-testid="queue-open">2<' in overview
    assert 'data-testid="queue-high">1<' in overview
    assert 'data-testid="queue-last-week">100%<' in overview


@pytest.mark.django_db
def test_weights_saved_while_the_broker_is_down_are_applied_by_the_next_pass(
    api, carol, guideline, prompt, settings
):
    comparison = make_comparison(prompt, k=2)
    Comparison.objects.filter(pk=comparison.pk).update(uncertainty=0.5)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    api.force_authenticate(carol)

    answer = api.put(f"{URL}{guideline.pk}/", {"weight_uncertainty": 3}, format="json")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["reordering"] == "owed" and answer.json()["reordered"] is False
    assert QueuePriority.objects.get(guideline=guideline).weight_uncertainty == 3
    assert priorities_owed_refresh() == 0  # a fresh save's own message gets the first chance
    QueuePriority.objects.update(updated_at=F("updated_at") - timedelta(minutes=2))
    assert priorities_owed_refresh() == 1  # beat's pass, once a worker can run it
    task = Task.objects.get(pk=comparison.task_id)
    assert task.priority == pytest.approx(
        priority_of(
            QueuePriority(weight_uncertainty=3),
            uncertainty=0.5,
            agreement=None,
            ranking_count=0,
            created_at=comparison.created_at,
        )
    )
    assert priorities_owed_refresh() == 0
    assert api.get(f"{URL}{guideline.pk}/").json()["reordered"] is True


@pytest.mark.django_db
def test_a_new_day_rate_rewrites_every_open_task_at_the_next_pass(guideline, prompt, settings):
    comparison = make_comparison(prompt, k=2)
    assert priorities_owed_refresh() == 0  # records the rate the priorities were written at
    settings.RANKING_PRIORITY_PER_DAY = 0.2

    priorities_owed_refresh()

    expected = priority_of(
        QueuePriority(),
        uncertainty=None,
        agreement=None,
        ranking_count=0,
        created_at=comparison.created_at,
    )
    assert Task.objects.get(pk=comparison.task_id).priority == pytest.approx(expected)
    assert expected < comparison.task.priority  # 0.2 a day since the origin, not 0.05
