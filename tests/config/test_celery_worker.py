"""A task sent through the configured broker is run by a real worker process."""

import os
import uuid

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from config.celery import ping
from tests.conftest import worker_process


@pytest.fixture
def worker_queue(child_env):
    """A worker process of its own, consuming a queue no other process uses."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    with worker_process(child_env, queue=queue) as worker:
        yield queue, worker


def test_a_real_worker_runs_the_task_and_its_result_comes_back(worker_queue):
    queue, worker = worker_queue

    result = ping.apply_async(kwargs={"payload": "hello"}, queue=queue)
    answer = result.get(timeout=90)

    assert answer["payload"] == "hello"
    assert answer["worker_pid"] == worker.pid
    assert answer["worker_pid"] != os.getpid()
    assert answer["database"] == str(connection.settings_dict["NAME"])


def test_the_broker_is_the_one_the_environment_names():
    expected = os.environ.get("CELERY_BROKER_URL") or "filesystem://"

    assert celery_app.conf.broker_url == expected
    assert expected == settings.CELERY_BROKER_URL


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("trainer.tasks.train_run", "training"),
        # Only HTTP to the inference process and the sources: never behind a training run.
        ("trainer.tasks.generate_candidates", "drafts"),
        ("trainer.tasks.generate_drafts", "drafts"),
        ("trainer.tasks.evaluate_models", "drafts"),
        ("ai_feedback.tasks.rate_items", "drafts"),
        ("trainer.tasks.score_comparisons", "default"),
    ],
)
def test_each_task_goes_to_the_queue_of_the_work_it_does(task, queue):
    celery_app.loader.import_default_modules()  # the apps' tasks, as a worker finds them
    assert celery_app.tasks[task].name == task  # a real task, not a name the routes guess
    route = celery_app.amqp.router.route({}, task)
    assert route["queue"].name == queue


def test_long_jobs_are_acknowledged_late_one_at_a_time_with_time_limits():
    conf = celery_app.conf

    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert {q.name for q in conf.task_queues} == {"default", "training", "drafts"}
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
