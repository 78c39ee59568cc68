"""A run spread over two processes (TRAINING_PROCESSES=2, gloo on CPU): it trains the
same model as one process, follows a cancel, and its processes are gone after their
worker is killed, after which the next worker resumes the run. (That they die with the
worker even when nothing else would end them is tests/trainer_ml/test_die_with_parent.)"""

import json
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from django.conf import settings as django_settings
from safetensors.torch import load_file

from jobs.models import JobStatus
from tests.conftest import process_alive, worker_process
from trainer.models import TrainingRun
from trainer.training import run_execute, training_run_create

from .conftest import QUICK
from .test_training_worker import QUEUES, finished_by_the_next_worker, run_reached, wait_for

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this torch build has no torch.distributed"
)


def weights(run: TrainingRun) -> dict[str, torch.Tensor]:
    return load_file(Path(django_settings.DATA_DIR) / run.model.path / "model.safetensors")


def saved_config(run: TrainingRun) -> dict:
    return json.loads((Path(django_settings.DATA_DIR) / run.model.path / "config.json").read_text())


def training_pids(run: TrainingRun) -> list[int]:
    found = re.search(r"training in 2 processes \(pids (\d+), (\d+)\)", run.logs)
    assert found, run.logs
    return [int(pid) for pid in found.groups()]


@pytest.mark.any_backend
@pytest.mark.django_db
def test_two_processes_train_the_same_reward_model_as_one(oasst, settings):
    one = run_execute(run_id=training_run_create(kind="reward", config=QUICK, enqueue=False).pk)
    settings.TRAINING_PROCESSES = 2
    two = training_run_create(kind="reward", snapshot=one.snapshot, config=QUICK, enqueue=False)
    two = run_execute(run_id=two.pk)

    assert one.status == two.status == JobStatus.SUCCEEDED, two.error
    assert "training in 2 processes" in two.logs and "processes" not in one.logs
    assert [h["step"] for h in two.history if "loss" in h] == [2, 4, 6]
    assert two.progress == 1.0 and two.step == two.total_steps == 6
    for key in ("validation_accuracy", "reward_mean", "loss"):
        assert two.model.metrics[key] == pytest.approx(one.model.metrics[key], abs=1e-3), key
    # Clipped AdamW steps hide a wrongly scaled gradient; the gradient's norm does not.
    norms = [[h["grad_norm"] for h in run.history if "loss" in h] for run in (one, two)]
    assert norms[1] == pytest.approx(norms[0], rel=1e-3)
    # The centring on approved demonstrations travelled to the processes as a file.
    assert (Path(django_settings.DATA_DIR) / two.output_dir / "demonstrations.jsonl").exists()
    assert saved_config(two)["reward_bias"] == pytest.approx(
        saved_config(one)["reward_bias"], abs=1e-3
    )
    first, second = weights(one), weights(two)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(second[name], first[name], atol=2e-4, rtol=0, msg=name)


@pytest.mark.any_backend
@pytest.mark.django_db
def test_a_failing_process_fails_the_run_with_its_error(oasst, settings, tmp_path):
    settings.TRAINING_PROCESSES = 2
    # A directory that looks like a model until it is loaded.
    (tmp_path / "config.json").write_text('{"model_type": "no-such-architecture"}')
    run = training_run_create(kind="sft", base_model=str(tmp_path), config=QUICK, enqueue=False)
    run = run_execute(run_id=run.pk)

    assert run.status == JobStatus.FAILED
    assert "ProcessesFailed: process" in run.error and "exited with" in run.error
    # It quotes the end of the failed process's own log.
    logs = Path(django_settings.DATA_DIR) / run.output_dir / "processes"
    last_lines = [log.read_text().strip().splitlines()[-1] for log in logs.glob("rank-*.log")]
    assert any(line in run.error for line in last_lines), (run.error, last_lines)
    assert not hasattr(run, "model")


@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_the_processes_of_a_killed_worker_die_with_it_and_the_next_worker_resumes(oasst, child_env):
    env = {
        **child_env,
        "TRAINING_PROCESSES": "2",
        "TRAINING_HEARTBEAT_S": "1",
        "TRAINING_STALE_AFTER_S": "3",
    }
    config = {**QUICK, "max_steps": 40, "log_every": 1, "checkpoint_every": 5}
    run = training_run_create(kind="sft", config=config)

    with worker_process(env, queue=QUEUES) as first:
        killed_at = wait_for(lambda: run_reached(run.pk, step__gte=12), timeout=300, what="step 12")
        pids = training_pids(killed_at)
        assert all(process_alive(pid) for pid in pids)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        wait_for(
            lambda: not any(process_alive(pid) for pid in pids), timeout=20, what="children to die"
        )
    finished = finished_by_the_next_worker(run.pk, env, killed_before=40)

    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 2
    assert re.search(r"resumed from the checkpoint at step (10|15)", finished.logs), finished.logs
    steps = [h["step"] for h in finished.history if "loss" in h]
    assert steps == list(range(1, 41))


@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_cancelling_a_run_in_processes_stops_them_and_keeps_no_model(api, carol, oasst, child_env):
    env = {**child_env, "TRAINING_PROCESSES": "2", "TRAINING_HEARTBEAT_S": "1"}
    api.force_authenticate(carol)
    config = {**QUICK, "max_steps": 500, "log_every": 1}
    answer = api.post("/api/training-runs/", {"kind": "reward", "config": config}, format="json")

    with worker_process(env, queue=QUEUES):
        running = wait_for(
            lambda: run_reached(answer.data["id"], step__gte=3), timeout=300, what="step 3"
        )
        pids = training_pids(running)
        assert api.post(f"/api/training-runs/{answer.data['id']}/cancel/").status_code == 200
        run = wait_for(
            lambda: run_reached(answer.data["id"], status__in=["cancelled", "succeeded", "failed"]),
            timeout=120,
            what="the run to stop",
        )
        assert not any(process_alive(pid) for pid in pids)

    assert run.status == JobStatus.CANCELLED, run.error
    assert run.step < 500 and not hasattr(run, "model")


def test_each_started_process_gets_its_share_of_the_cores_it_may_run_on(monkeypatch):
    from trainer.processes import child_env

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert child_env(0, 2, 1234)["OMP_NUM_THREADS"] == "3"
    assert child_env(1, 8, 1234)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "5")  # the user's own count wins
    assert child_env(0, 2, 1234)["OMP_NUM_THREADS"] == "5"
