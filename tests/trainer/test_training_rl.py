"""RL runs from the API: what they need before they are queued, and a run trained by a real
worker into a policy that generation, the playground's models and /v1 take."""

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from jobs.models import JobStatus
from serving.selectors import servable_model
from trainer.curves import run_charts
from trainer.ml.generate import Generator
from trainer.ml.sampling import Sampling
from trainer.models import ModelVersion, TrainingRun
from trainer.retraining import runs_start_when_enough_data
from trainer.training import (
    model_promote,
    run_execute,
    training_run_create,
)

from .conftest import QUICK
from .test_training_pages import field_error, model_version
from .test_training_worker import finished_by_a_worker

RL_QUICK = {**QUICK, "max_new_tokens": 8, "samples_per_prompt": 2, "eval_prompts": 2}


def trained(kind: str) -> ModelVersion:
    run = training_run_create(kind=kind, config=QUICK, enqueue=False)
    run = run_execute(run_id=run.pk)
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run.model


def rl_posted(api, **payload):
    return api.post("/api/training-runs/", {"kind": "rl", **payload}, format="json")


@pytest.mark.any_backend
@pytest.mark.django_db
def test_an_rl_run_needs_an_sft_model_to_start_from_and_a_promoted_reward_model(
    api, carol, oasst, settings
):
    api.force_authenticate(carol)
    sft = trained("sft")
    reward = trained("reward")

    answer = rl_posted(api, base_model=f"model:{sft.pk}")
    assert answer.status_code == 400
    assert "No reward model is promoted" in str(answer.data["reward_model"])

    model_promote(version=reward)
    for base in ["", f"model:{reward.pk}"]:
        answer = rl_posted(api, base_model=base)
        assert answer.status_code == 400
        assert "generative model" in str(answer.data["base_model"])
    answer = rl_posted(api, base_model=f"model:{sft.pk}", config={"kl_coef": -1})
    assert answer.status_code == 400 and "config.kl_coef" in answer.data
    # RL's own settings belong to RL runs alone.
    answer = api.post(
        "/api/training-runs/", {"kind": "sft", "config": {"kl_coef": 0.1}}, format="json"
    )
    assert answer.status_code == 400 and "config.kl_coef" in answer.data

    answer = rl_posted(api, base_model=f"model:{sft.pk}", config={**RL_QUICK, "kl_coef": 0.1})
    assert answer.status_code == 202
    assert answer.data["config"] == {**RL_QUICK, "kl_coef": 0.1, "reward_model": reward.pk}

    # Trained in two processes, which get the reward model on their command line.
    settings.TRAINING_PROCESSES = 2
    run = run_execute(run_id=answer.data["id"])
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert "training in 2 processes" in run.logs
    assert run.model.kind == "rl" and [r["samples"] for r in run.history if "loss" in r] == [
        16,
        16,
        16,
    ]


@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_an_rl_run_from_the_api_trained_by_a_worker_is_a_policy_generation_takes(
    api, client, carol, oasst, child_env
):
    api.force_authenticate(carol)
    sft = trained("sft")
    reward = model_promote(version=trained("reward"))
    answer = rl_posted(api, base_model=f"model:{sft.pk}", config=RL_QUICK)
    assert answer.status_code == 202, answer.data

    run = finished_by_a_worker(answer.data["id"], child_env)

    assert run.status == JobStatus.SUCCEEDED, run.error
    version = run.model
    assert version.kind == "rl" and version.base_model == f"model:{sft.pk}"
    assert version.config["reward_model"] == reward.pk
    assert {"validation_reward", "validation_kl", "validation_length_share"} <= set(
        version.metrics
    ) or {"train_reward", "train_kl", "train_length_share"} <= set(version.metrics)
    records = [r for r in run.history if "reward" in r]
    assert records and all({"kl", "entropy", "reply_length"} <= set(r) for r in records)
    # The registry says what it is and what it was made from.
    listed = api.get(f"/api/models/{version.pk}/").json()
    assert (listed["produces"], listed["parent"], listed["reward_model"]) == (
        "policy",
        sft.pk,
        reward.pk,
    )
    policies = api.get("/api/models/", {"produces": "policy"}).json()
    assert {m["id"] for m in policies} == {sft.pk, version.pk}

    # The policy is a generative model: /v1 serves it, it answers, and generation takes it.
    assert servable_model(version.name) == version
    generator = Generator(Path(django_settings.DATA_DIR) / version.path)
    assert generator.sample([{"role": "user", "content": "Hi"}], Sampling(k=1, max_new_tokens=4))
    generation = api.post(
        "/api/generations/",
        {"model": version.pk, "k": 2, "max_new_tokens": 8, "filters": {"limit": 1}},
        format="json",
    )
    assert generation.status_code == 202, generation.data

    client.force_login(carol)
    # Its page draws the reward and KL by step, with their values.
    charts = {c.key: c for c in run_charts(run.history, total_steps=run.total_steps, kind="rl")}
    assert not charts["reward"].empty and not charts["kl"].empty
    page = client.get(f"/dashboard/training/runs/{run.pk}/").content.decode()
    reward_chart = re.search(r'data-chart="reward".*?</figure>', page, re.S).group(0)
    assert "training reward" in reward_chart and 'data-series="train"' in reward_chart
    assert 'data-chart="kl"' in page


@pytest.mark.django_db
def test_the_run_form_queues_an_rl_run_with_its_settings_once_a_reward_model_is_promoted(
    client, carol, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    sft, reward = model_version("sft"), model_version("reward")
    form = {"kind": "rl", "base": "model", "base_version": sft.pk, "kl_coef": "0.2"}

    answer = client.post("/dashboard/training/", form)
    assert answer.status_code == 400
    assert "No reward model is promoted" in field_error(answer, "reward_model")
    assert 'value="0.2"' in answer.content.decode()
    # The form sends only the chosen kind's own settings: an SFT run leaves RL's behind.
    answer = client.post("/dashboard/training/", {**form, "kind": "sft"})
    assert answer.status_code == 302
    assert "kl_coef" not in TrainingRun.objects.filter(kind="sft").latest("pk").config

    model_promote(version=reward)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post("/dashboard/training/", {**form, "samples_per_prompt": "3"})

    assert answer.status_code == 302, answer.content.decode()
    run = TrainingRun.objects.get(kind="rl")
    assert run.base_model == f"model:{sft.pk}"
    assert run.config == {"kl_coef": 0.2, "samples_per_prompt": 3, "reward_model": reward.pk}
    assert len(queued) == 1


@pytest.mark.django_db
def test_scheduled_retraining_never_starts_an_rl_run(settings):
    settings.TRAINING_RETRAIN_MIN_DEMONSTRATIONS = 0
    settings.TRAINING_RETRAIN_MIN_RANKINGS = 0

    started = runs_start_when_enough_data()

    assert sorted(run.kind for run in started) == ["reward", "sft"]
