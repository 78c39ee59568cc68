"""DPO and RL runs whose worker is killed mid-run: the next worker resumes each from its last
checkpoint and ends it, logging every step once, and a DPO run reads its reference
log-probabilities back from the run folder instead of computing them again."""

import os
import re
import signal
from pathlib import Path

import pytest
from django.conf import settings

from jobs.models import JobStatus
from tests.conftest import worker_process
from trainer.ml.dpo import REFERENCE_FILE
from trainer.training import model_promote, training_run_create

from .conftest import QUICK
from .test_training import trained
from .test_training_worker import QUEUES, finished_by_the_next_worker, run_reached, wait_for

STEPS = 60
# Every step logged, a checkpoint every 5: the kill after step 8 lands between two.
RESUMABLE = {**QUICK, "max_steps": STEPS, "log_every": 1, "checkpoint_every": 5, "lora_r": 0}
SETTINGS = {
    "dpo": {"max_length": 48, "beta": 0.1},
    "rl": {"max_new_tokens": 8, "samples_per_prompt": 2, "eval_prompts": 2},
}


def killed_mid_run(run_id: int, env: dict) -> None:
    with worker_process(env, queue=QUEUES) as first:
        wait_for(lambda: run_reached(run_id, step__gte=8), timeout=300, what="step 8 of the run")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)


# Committing: the worker reads the run and the models from its own connection.
@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["dpo", "rl"])
def test_a_third_stage_run_whose_worker_is_killed_is_resumed_by_the_next_worker(
    kind, oasst, child_env
):
    env = {**child_env, "TRAINING_HEARTBEAT_S": "1", "TRAINING_STALE_AFTER_S": "3"}
    sft = trained("sft").model
    config = {**RESUMABLE, **SETTINGS[kind]}
    if kind == "rl":
        model_promote(version=trained("reward").model)
    run = training_run_create(kind=kind, config=config, base_model=f"model:{sft.pk}")

    killed_mid_run(run.pk, env)
    reference = Path(settings.DATA_DIR) / run.output_dir / REFERENCE_FILE
    written = reference.stat().st_mtime_ns if kind == "dpo" else None
    finished = finished_by_the_next_worker(run.pk, env, killed_before=STEPS)

    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 2 and finished.model.kind == kind
    resumed = re.search(r"resumed from the checkpoint at step (\d+)", finished.logs)
    assert resumed and int(resumed[1]) >= 5 and int(resumed[1]) % 5 == 0, finished.logs
    steps = [h["step"] for h in finished.history if "loss" in h]
    assert steps == list(range(1, STEPS + 1))  # the steps after the checkpoint logged once
    if kind == "dpo":
        assert reference.stat().st_mtime_ns == written  # read back, not computed again
