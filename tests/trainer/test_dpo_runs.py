"""DPO runs from the API, the worker and the dashboard: a DPO model starts from a policy,
becomes a policy model version that generation samples from, and promotion keeps one
promoted policy whichever method made it."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from rankings.models import Candidate
from serving.selectors import PROMOTED, servable_model
from trainer.generation import generation_run
from trainer.ml.dpo import REFERENCE_FILE
from trainer.ml.methods import training_method
from trainer.models import ModelVersion, TrainingRun
from trainer.retraining import runs_start_when_enough_data
from trainer.training import model_promote, run_execute

from .conftest import QUICK
from .test_training import trained
from .test_training_pages import model_version
from .test_training_worker import finished_by_a_worker, wait_for

DPO_METRICS = set(training_method("dpo").metrics)


def dpo_request(base: ModelVersion, **config) -> dict:
    return {
        "kind": "dpo",
        "base_model": f"model:{base.pk}",
        # Short sequences: the reference pass reads every reply of the export once.
        "config": {**QUICK, "max_length": 48, "beta": 0.1, "lora_r": 0, **config},
    }


@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_a_dpo_run_from_an_sft_model_becomes_the_policy_generation_samples_from(
    api, carol, oasst, inference_process
):
    sft = trained("sft").model
    api.force_authenticate(carol)

    answer = api.post("/api/training-runs/", dpo_request(sft), format="json")
    assert answer.status_code == 202, answer.data
    run = run_execute(run_id=answer.data["id"])

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.snapshot.kind == "rankings" and run.step == 6
    version = run.model
    assert version.kind == "dpo" and version.produces == "policy"
    assert version.base_model == f"model:{sft.pk}" and version.config["beta"] == 0.1
    assert set(version.metrics) >= DPO_METRICS
    assert 0.0 <= version.metrics["validation_accuracy"] <= 1.0
    assert (Path(settings.DATA_DIR) / run.output_dir / REFERENCE_FILE).is_file()

    for promoted in (sft, version):
        assert api.post(f"/api/models/{promoted.pk}/promote/").status_code == 200
    assert list(ModelVersion.objects.filter(promoted=True)) == [version]
    answer = api.post(
        "/api/generations/",
        {"filters": {"limit": 2}, "k": 2, "max_new_tokens": 8, "overlap": 2},
        format="json",
    )
    assert answer.status_code == 202, answer.data
    assert answer.data["model"] == version.pk
    job = generation_run(job_id=answer.data["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    made = Candidate.objects.filter(source="generated")
    assert made.exists() and {c.model_name for c in made} == {version.name}


@pytest.mark.django_db
def test_promotion_keeps_one_promoted_policy_and_one_reward_model(api, carol):
    sft, dpo, reward = model_version("sft"), model_version("dpo"), model_version("reward")
    api.force_authenticate(carol)

    for version in (reward, sft, dpo):
        assert api.post(f"/api/models/{version.pk}/promote/").status_code == 200
    assert set(ModelVersion.objects.filter(promoted=True)) == {dpo, reward}
    assert servable_model(PROMOTED) == dpo

    model_promote(version=sft)
    assert set(ModelVersion.objects.filter(promoted=True)) == {sft, reward}
    assert servable_model(PROMOTED) == sft


@pytest.mark.django_db
def test_the_models_page_promotes_a_dpo_model_as_the_policy(client, carol):
    model_version("sft", promoted=True)
    dpo = model_version("dpo")
    client.force_login(carol)

    answer = client.post(f"/dashboard/models/{dpo.pk}/promote/", follow=True)

    assert f"{dpo.name} is now the promoted policy." in answer.content.decode()
    assert list(ModelVersion.objects.filter(promoted=True)) == [dpo]
    page = client.get("/dashboard/models/").content.decode()
    assert "Direct preference optimization" in page and "promoted policy" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("base", "config", "field", "words"),
    [
        (None, {}, "base_model", "starts from a generative model"),
        ("reward", {}, "base_model", "is a reward model"),
        ("sft", {"beta": 0}, "config.beta", "Between"),
        ("sft", {"label_smoothing": 0.5}, "config.label_smoothing", "Between"),
        ("sft", {"gamma": 1}, "config.gamma", "beta"),
    ],
)
def test_a_dpo_run_without_a_policy_to_start_from_or_with_bad_settings_gets_a_400(
    api, carol, base, config, field, words
):
    payload: dict = {"kind": "dpo", "config": config}
    if base:
        payload["base_model"] = f"model:{model_version(base).pk}"
    api.force_authenticate(carol)

    answer = api.post("/api/training-runs/", payload, format="json")

    assert answer.status_code == 400, answer.data
    assert words in str(answer.data[field])
    assert not TrainingRun.objects.filter(kind="dpo").exists()


@pytest.mark.django_db
def test_a_dpo_run_on_a_snapshot_with_nothing_to_train_on_gets_a_400(api, carol):
    empty = DatasetSnapshot.objects.create(
        kind="rankings", status=JobStatus.SUCCEEDED, counts={"train": 0, "validation": 0}
    )
    payload = {**dpo_request(model_version("sft")), "snapshot": empty.pk}
    api.force_authenticate(carol)

    answer = api.post("/api/training-runs/", payload, format="json")

    assert answer.status_code == 400
    assert "no training rows" in str(answer.data["snapshot"])


@pytest.mark.django_db
def test_dpo_settings_belong_to_dpo_runs(api, carol):
    api.force_authenticate(carol)

    answer = api.post(
        "/api/training-runs/", {"kind": "sft", "config": {"beta": 0.1}}, format="json"
    )

    assert answer.status_code == 400
    assert "A setting of dpo runs, not sft." in str(answer.data["config.beta"])


@pytest.mark.django_db
def test_a_directory_of_a_model_that_does_not_generate_is_no_dpo_base(api, carol, tmp_path):
    (tmp_path / "config.json").write_text('{"architectures": ["BertForSequenceClassification"]}')
    api.force_authenticate(carol)

    answer = api.post(
        "/api/training-runs/", {"kind": "dpo", "base_model": str(tmp_path)}, format="json"
    )

    assert answer.status_code == 400
    assert "BertForSequenceClassification" in str(answer.data["base_model"])


@pytest.mark.django_db
def test_the_schedule_starts_dpo_from_the_promoted_policy_only(oasst, settings):
    settings.TRAINING_RETRAIN_MIN_DEMONSTRATIONS = 10_000
    settings.TRAINING_RETRAIN_MIN_RANKINGS = 10_000
    settings.TRAINING_RETRAIN_DPO_MIN_RANKINGS = 1

    assert runs_start_when_enough_data() == []
    sft = model_version("sft")
    model_promote(version=sft)
    started = runs_start_when_enough_data()

    assert [(run.kind, run.base_model) for run in started] == [("dpo", f"model:{sft.pk}")]

    # With a DPO policy promoted over it, the next scheduled run still starts from the
    # SFT model under it, its reference, rather than stacking DPO on DPO.
    model_promote(version=model_version("dpo", base_model=f"model:{sft.pk}"))
    # Both DPO runs long done, so the rankings count as new since them.
    TrainingRun.objects.filter(kind="dpo").update(
        status=JobStatus.SUCCEEDED, created_at=datetime(2000, 1, 1, tzinfo=UTC)
    )
    started = runs_start_when_enough_data()

    assert [(run.kind, run.base_model) for run in started] == [("dpo", f"model:{sft.pk}")]


def test_the_run_form_offers_dpo_and_sends_its_settings_for_dpo_runs_only(client, carol):
    sft = model_version("sft")
    client.force_login(carol)

    page = client.get("/dashboard/training/").content.decode()
    assert 'value="dpo"' in page and 'name="beta"' in page and 'name="label_smoothing"' in page
    form = {"base": "model", "base_version": str(sft.pk), "beta": "0.2", "max_steps": "3"}
    answer = client.post("/dashboard/training/", {**form, "kind": "dpo"})
    ignored = client.post("/dashboard/training/", {**form, "kind": "sft"})

    assert answer.status_code == ignored.status_code == 302
    dpo_run, sft_run = TrainingRun.objects.filter(base_model=f"model:{sft.pk}").order_by("pk")
    assert dpo_run.kind == "dpo" and dpo_run.config == {"beta": 0.2, "max_steps": 3}
    assert sft_run.kind == "sft" and sft_run.config == {"max_steps": 3}
    # The notice tells what was done, which stays true once the run has moved on.
    shown = client.get(answer.url).content.decode()
    assert f"Run {dpo_run.pk} was queued." in shown


# Committing: on SQLite an open test transaction would make the run's heartbeat wait out
# the busy timeout (30 s).
@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_a_dpo_run_queued_through_the_api_is_trained_by_a_worker(
    api, carol, oasst, child_env, live_server, settings
):
    sft = trained("sft").model
    api.force_authenticate(carol)
    answer = api.post("/api/training-runs/", dpo_request(sft, lora_r=4), format="json")
    assert answer.status_code == 202, answer.data

    run = finished_by_a_worker(answer.data["id"], child_env)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.model.kind == "dpo" and run.model.config["lora_r"] == 4
    assert set(run.model.metrics) >= DPO_METRICS
    assert (Path(settings.DATA_DIR) / run.model.path / "adapter").is_dir()
    # The playground answers with it as with an SFT model, through the inference process
    # (the live server here).
    settings.INFERENCE_URL = live_server.url
    question = {"messages": [{"role": "user", "content": "How do I boil an egg?"}]}

    def answered():
        response = api.post(f"/api/models/{run.model.pk}/chat/", question, format="json")
        # 503 while the model still loads: the next try finds it loaded.
        return None if response.status_code == 503 else response

    answer = wait_for(answered, timeout=180, what="the playground to answer")
    assert answer.status_code == 200, answer.data
    assert isinstance(answer.data["reply"], str) and "score" not in answer.data
