"""The whole loop through the platform's services: demonstrations and rankings imported
into the database, an SFT model and a reward model trained on them and promoted, RL from
the SFT model against the reward model, and the RL policy judged against the SFT model by
the reward model on prompts neither was trained on.

The data is planted so that a model of a few thousand weights can learn it in seconds:
raters always prefer the reply holding a marker word, which one demonstration in eight
holds. What is asserted is the judge's verdict: the RL policy wins most held-out prompts
as the reward model scores them. A reward model this small pays for more than the marker,
and the policy may earn its scores without saying it."""

import json
import random
from pathlib import Path

import pytest
import torch
from django.conf import settings

from dataset_io.importing import import_run
from guidelines.services import guideline_create, version_draft_create, version_publish
from jobs.models import JobStatus
from labeling.services import prompt_import
from tests.trainer_ml.conftest import MARKER, sentence, small_checkpoint
from tests.trainer_ml.test_rl import MARKER_RATE, RL_SETTINGS
from trainer.evaluation_judges import SIDES
from trainer.evaluation_results import wilson_interval
from trainer.evaluations import evaluation_run
from trainer.models import ModelVersion
from trainer.training import model_promote, run_execute, training_run_create

HELD_OUT = 40
COMMON = {"batch_size": 8, "checkpoint_every": 0, "max_length": 96}


@pytest.fixture
def one_thread(monkeypatch):
    """One torch thread for training (which reads OMP_NUM_THREADS) and generation: on a
    busy machine of few cores, more threads only wait on each other."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def imported(queue_import, rows: list[dict], format: str) -> None:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    job = import_run(job_id=queue_import(text, format).pk)
    assert job.status == JobStatus.SUCCEEDED and not job.errors, job.errors


def planted_data(queue_import) -> None:
    """160 demonstrations, one in eight saying the marker, and 160 pairs in which the
    reply with the marker is preferred."""
    rng = random.Random(0)
    demonstrations = [
        {"instruction": sentence(rng), "output": sentence(rng, marker=rng.random() < MARKER_RATE)}
        for _ in range(160)
    ]
    imported(queue_import, demonstrations, "alpaca")
    pairs = []
    for _ in range(160):
        asked = f"\n\nHuman: {sentence(rng)}\n\nAssistant: "
        rejected = asked + sentence(rng)
        pairs.append({"chosen": asked + sentence(rng, marker=True), "rejected": rejected})
    imported(queue_import, pairs, "hh-rlhf")


def trained(kind: str, base_model: str, **config) -> ModelVersion:
    run = training_run_create(kind=kind, base_model=base_model, config={**COMMON, **config})
    run = run_execute(run_id=run.pk)
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run.model


@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_rl_from_sft_against_the_reward_model_wins_held_out_prompts_against_sft(
    api,
    carol,
    queue_import,
    tmp_path,
    one_thread,
    django_capture_on_commit_callbacks,
    inference_process,
    training_queue_emptied,
):
    planted_data(queue_import)
    held_out = guideline_create(slug="held-out", title="Held out")
    version_publish(
        version=version_draft_create(guideline=held_out, body="# Held\n", summary="", author=carol)
    )
    rng = random.Random(9)
    for _ in range(HELD_OUT):
        prompt_import(guideline=held_out, messages=[{"role": "user", "content": sentence(rng)}])
    # A Llama of a few thousand weights with a tokenizer of the planted words: the base
    # both the SFT and the reward model start from.
    base = small_checkpoint(tmp_path / "base", "llama")

    # Queued to no worker: each run is trained here, as a worker would.
    with django_capture_on_commit_callbacks(execute=False):
        sft = model_promote(version=trained("sft", base, max_steps=100, lr=1e-2))
        reward = trained("reward", base, max_steps=40, lr=3e-3)
        assert reward.metrics["validation_accuracy"] > 0.9, reward.metrics
        model_promote(version=reward)
        rl = trained("rl", f"model:{sft.pk}", **RL_SETTINGS)
    assert rl.config["reward_model"] == reward.pk and rl.base_model == f"model:{sft.pk}"

    api.force_authenticate(carol)
    with django_capture_on_commit_callbacks(execute=False):
        answer = api.post(
            "/api/evaluations/",
            {
                "model": rl.pk,
                "baseline": sft.pk,
                "judge": "reward",
                "filters": {"guideline": "held-out", "limit": HELD_OUT},
                "max_new_tokens": 20,
            },
            format="json",
        )
    assert answer.status_code == 202, answer.json()
    job = evaluation_run(job_id=answer.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)

    body = api.get(f"/api/evaluations/{job.pk}/").json()
    assert body["held_out"] is True and body["judge"] == "reward"
    assert body["wins"] + body["ties"] + body["losses"] == body["n"] == HELD_OUT
    assert len(body["detail"]) == HELD_OUT and not job.failures
    outcomes = [row["outcome"] for row in body["detail"]]
    assert [outcomes.count(o) for o in ("win", "tie", "loss")] == [
        body["wins"],
        body["ties"],
        body["losses"],
    ]
    assert body["win_rate"] == pytest.approx((body["wins"] + body["ties"] / 2) / HELD_OUT)
    assert body["ci95"] == pytest.approx(list(wilson_interval(body["win_rate"], HELD_OUT)))
    # How often each side said the marker: a clue, when this fails, to what RL learned.
    says = [sum(MARKER in row[f"{side}_reply"] for row in body["detail"]) for side in SIDES]
    assert body["ci95"][0] > 0.5, (body["wins"], body["ties"], body["losses"], says)
    assert Path(settings.DATA_DIR, rl.path).is_dir()
