"""Training in real Celery workers through the configured broker, including a worker
killed in the middle of a run."""

import os
import re
import signal
import time

import pytest

from jobs.models import JobStatus
from tests.conftest import worker_process
from trainer.models import TrainingRun
from trainer.training import training_run_create

from .conftest import QUICK

QUEUES = "default,training"


def wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"waited {timeout:.0f}s for {what}")


def run_reached(run_id: int, **lookup):
    return TrainingRun.objects.filter(pk=run_id, **lookup).first()


def finished_by_a_worker(run_id: int, env: dict) -> TrainingRun:
    with worker_process(env, queue=QUEUES):
        return wait_for(
            lambda: run_reached(run_id, status__in=["succeeded", "failed"]),
            timeout=300,
            what="the run to finish",
        )


def finished_by_the_next_worker(run_id: int, env: dict, *, killed_before: int) -> TrainingRun:
    """After a worker was killed mid-run: a new worker takes the run over and ends it."""
    killed_at = TrainingRun.objects.get(pk=run_id)
    assert killed_at.status == JobStatus.RUNNING and killed_at.step < killed_before
    # Long enough for the heartbeat to go stale: the next worker takes the run over.
    time.sleep(4)
    with worker_process(env, queue=QUEUES):
        return wait_for(
            lambda: run_reached(run_id, status__in=["succeeded", "failed"]),
            timeout=300,
            what="the run to be finished by the next worker",
        )


@pytest.mark.django_db(transaction=True)
def test_a_run_queued_through_the_api_is_trained_by_a_worker(api, carol, oasst, child_env):
    api.force_authenticate(carol)
    answer = api.post("/api/training-runs/", {"kind": "reward", "config": QUICK}, format="json")
    assert answer.status_code == 202

    run = finished_by_a_worker(answer.data["id"], child_env)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.model.metrics["validation_accuracy"] >= 0
    assert run.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_is_killed_is_finished_by_the_next_worker(oasst, child_env):
    env = {**child_env, "TRAINING_HEARTBEAT_S": "1", "TRAINING_STALE_AFTER_S": "3"}
    # Long enough that the kill lands mid-run even on a busy machine, where the steps
    # between seeing step 12 and the kill arriving can be many.
    config = {**QUICK, "max_steps": 120, "log_every": 1, "checkpoint_every": 5}
    run = training_run_create(kind="sft", config=config)

    with worker_process(env, queue=QUEUES) as first:
        wait_for(lambda: run_reached(run.pk, step__gte=12), timeout=300, what="step 12 of the run")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finished = finished_by_the_next_worker(run.pk, env, killed_before=120)

    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 2
    resumed = re.search(r"resumed from the checkpoint at step (\d+)", finished.logs)
    assert resumed and int(resumed[1]) >= 10 and int(resumed[1]) % 5 == 0, finished.logs
    steps = [h["step"] for h in finished.history if "loss" in h]
    assert steps == list(range(1, 121))  # the steps after the checkpoint logged once


@pytest.mark.django_db(transaction=True)
def test_a_running_run_cancelled_through_the_api_stops_and_keeps_no_model(
    api, carol, oasst, child_env
):
    env = {**child_env, "TRAINING_HEARTBEAT_S": "1", "TRAINING_STALE_AFTER_S": "3"}
    api.force_authenticate(carol)
    config = {**QUICK, "max_steps": 500, "log_every": 1}
    answer = api.post("/api/training-runs/", {"kind": "sft", "config": config}, format="json")

    with worker_process(env, queue=QUEUES):
        wait_for(lambda: run_reached(answer.data["id"], step__gte=3), timeout=300, what="step 3")
        cancelled = api.post(f"/api/training-runs/{answer.data['id']}/cancel/")
        assert cancelled.status_code == 200 and cancelled.data["cancel_requested"] is True
        run = wait_for(
            lambda: run_reached(answer.data["id"], status__in=["cancelled", "succeeded", "failed"]),
            timeout=120,
            what="the run to stop",
        )

    assert run.status == JobStatus.CANCELLED
    assert run.step < 500 and not hasattr(run, "model")
    assert "cancelled" in run.logs
