"""A training worker told to stop (SIGTERM: Celery's warm shutdown) checkpoints the run
at its next step and hands it back; the next worker resumes it from that step."""

import os
import re
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app
from jobs.models import JobStatus
from tests.conftest import worker_process
from trainer.models import ModelVersion, TrainingRun
from trainer.training import run_execute, training_run_create

from .conftest import QUICK
from .test_training_worker import run_reached, wait_for

HANDED_BACK = re.compile(r"worker stopping: checkpointed at step (\d+), run handed back")
# What the deployment gives a training worker between SIGTERM and SIGKILL.
TRAINING_STOP_GRACE_S = 120


def messages_waiting(queue: str, *, purge: bool = False) -> int:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        if purge:
            # Messages an earlier test left in the broker would be trained as well.
            channel.queue_purge(queue)
        return channel.queue_declare(queue).message_count


@pytest.mark.django_db(transaction=True)
def test_a_stopped_training_worker_hands_its_run_back_to_resume_at_that_step(oasst, child_env):
    env = {**child_env, "TRAINING_HEARTBEAT_S": "1", "TRAINING_STALE_AFTER_S": "3"}
    # No checkpoint by step count or by time: the only one is the stop's own, so resuming
    # from an older one would show as another step.
    config = {**QUICK, "max_steps": 30, "log_every": 1, "checkpoint_every_s": 0}
    assert messages_waiting("training", purge=True) == 0
    run = training_run_create(kind="sft", config=config)

    with worker_process(env, queue="training") as first:
        wait_for(lambda: run_reached(run.pk, step__gte=8), timeout=300, what="step 8 of the run")
        signalled = time.monotonic()
        os.kill(first.pid, signal.SIGTERM)
        first.wait(timeout=TRAINING_STOP_GRACE_S)
        stopped_in = time.monotonic() - signalled

    assert first.returncode == 0
    assert stopped_in < TRAINING_STOP_GRACE_S / 4
    handed = TrainingRun.objects.get(pk=run.pk)
    assert handed.status == JobStatus.QUEUED and handed.attempts == 1, handed.logs
    stopped_at = int(HANDED_BACK.search(handed.logs)[1])
    assert 8 <= stopped_at < 30
    checkpoints = Path(settings.DATA_DIR) / handed.output_dir / "checkpoints"
    assert [p.name for p in checkpoints.glob("step-*")] == [f"step-{stopped_at:08d}"]
    # The stopped task's own message was acknowledged; one new one brings the run back.
    assert messages_waiting("training") == 1

    with worker_process(env, queue="training"):
        finished = wait_for(
            lambda: run_reached(run.pk, status__in=["succeeded", "failed"]),
            timeout=300,
            what="the run to be finished by the next worker",
        )

    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 2
    assert ModelVersion.objects.filter(run=finished).count() == 1
    assert f"resumed from the checkpoint at step {stopped_at}" in finished.logs
    steps = [h["step"] for h in finished.history if "loss" in h]
    assert steps == list(range(1, 31))  # each step logged once, across both attempts


# Committing: on SQLite a test's open transaction holds the write lock, and the run's
# heartbeat thread would wait out the busy timeout (30 s) at each beat.
@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_a_run_in_processes_suspended_checkpoints_in_every_process_and_resumes(oasst, settings):
    settings.TRAINING_PROCESSES = 2
    config = {**QUICK, "max_steps": 10, "log_every": 1, "checkpoint_every_s": 0}
    run = training_run_create(kind="reward", config=config, enqueue=False)
    steps_seen: list[int] = []

    def seen(event: dict) -> None:
        if event["type"] == "progress":
            steps_seen.append(event["step"])

    handed = run_execute(run_id=run.pk, echo=seen, should_suspend=lambda: len(steps_seen) >= 3)

    assert handed.status == JobStatus.QUEUED, handed.error
    stopped_at = int(HANDED_BACK.search(handed.logs)[1])
    assert 3 <= stopped_at < 10
    finished = run_execute(run_id=run.pk)
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert f"resumed from the checkpoint at step {stopped_at}" in finished.logs
    assert [h["step"] for h in finished.history if "loss" in h] == list(range(1, 11))
