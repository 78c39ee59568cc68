"""The LoRA settings of a run, from the API and from the run form: checked before anything
is queued, and kept in the run's config as given."""

import json
from pathlib import Path

import pytest

from jobs.models import JobStatus
from trainer.models import TrainingRun
from trainer.training import run_execute, training_run_create

from .conftest import QUICK
from .test_training_pages import field_error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"lora_r": -1}, "config.lora_r", "Between 0 and"),
        ({"lora_r": 2.5}, "config.lora_r", "A whole number"),
        ({"lora_r": 8, "lora_alpha": 0}, "config.lora_alpha", "above 0"),
        ({"lora_r": 8, "lora_alpha": "big"}, "config.lora_alpha", "above 0"),
        ({"lora_r": 8, "lora_dropout": 1.0}, "config.lora_dropout", "not including, 1"),
        ({"lora_r": 8, "lora_dropout": -0.1}, "config.lora_dropout", "from 0"),
        ({"lora_r": 8, "lora_target_modules": "q_proj"}, "config.lora_target_modules", "list"),
        ({"lora_r": 8, "lora_target_modules": []}, "config.lora_target_modules", "list"),
        ({"lora_r": 8, "lora_target_modules": ["q proj"]}, "config.lora_target_modules", "list"),
    ],
)
def test_bad_lora_settings_get_a_400_naming_the_setting(api, carol, config, field, message):
    api.force_authenticate(carol)

    answer = api.post("/api/training-runs/", {"kind": "sft", "config": config}, format="json")

    assert answer.status_code == 400, answer.data
    assert message in str(answer.data[field])
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_lora_settings_are_kept_as_given(api, carol, django_capture_on_commit_callbacks):
    api.force_authenticate(carol)
    config = {
        "lora_r": 8,
        "lora_alpha": 32,
        "lora_dropout": 0,
        "lora_target_modules": ["q_proj", "v_proj"],
    }

    with django_capture_on_commit_callbacks(execute=False):
        answer = api.post("/api/training-runs/", {"kind": "sft", "config": config}, format="json")

    assert answer.status_code == 202, answer.data
    assert TrainingRun.objects.get().config == {
        "lora_r": 8,
        "lora_alpha": 32.0,
        "lora_dropout": 0.0,
        "lora_target_modules": ["q_proj", "v_proj"],
    }


@pytest.mark.django_db
def test_the_run_form_shows_the_lora_fields_and_queues_what_they_say(
    client, carol, django_capture_on_commit_callbacks
):
    client.force_login(carol)

    page = client.get("/dashboard/training/").content.decode()
    for name in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"):
        assert f'name="{name}"' in page
    assert "2e-4 for LoRA on a pretrained base" in page

    bad = client.post("/dashboard/training/", {"kind": "sft", "lora_r": "4", "lora_dropout": "1"})
    assert bad.status_code == 400
    assert "not including, 1" in field_error(bad, "lora_dropout")
    for endless in ("inf", "1e999", "nan"):
        bad = client.post("/dashboard/training/", {"kind": "sft", "lora_alpha": endless})
        assert bad.status_code == 400 and "above 0" in field_error(bad, "lora_alpha"), endless
    assert not TrainingRun.objects.exists()

    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post(
            "/dashboard/training/",
            {"kind": "sft", "lora_r": "4", "lora_target_modules": "q_proj, v_proj"},
        )
    assert answer.status_code == 302
    assert TrainingRun.objects.get().config == {
        "lora_r": 4,
        "lora_target_modules": ["q_proj", "v_proj"],
    }


@pytest.mark.any_backend
@pytest.mark.django_db
def test_a_lora_run_from_the_worker_keeps_its_adapter_beside_the_merged_model(oasst, settings):
    run = training_run_create(
        kind="reward", config={**QUICK, "lora_r": 4, "lora_dropout": 0}, enqueue=False
    )

    run = run_execute(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    folder = Path(settings.DATA_DIR) / run.model.path
    assert (folder / "adapter" / "adapter_config.json").is_file()
    saved = json.loads((folder / "config.json").read_text())
    assert saved["lora"]["r"] == 4 and "reward_bias" in saved
    assert run.model.config["lora_r"] == 4 and run.model.config["lora_dropout"] == 0.0
