"""MODEL_DIRS: local pretrained models the run form offers as bases, described from their
config.json alone. carol is the admin."""

import pytest
from transformers import BertConfig, LlamaConfig

from config.env import env_paths
from trainer.models import TrainingRun


@pytest.fixture
def offered(tmp_path, settings):
    """A small BERT and a small Llama, as config.json only (weights are never read), and
    a directory without one."""
    bert, llama, empty = tmp_path / "mini-bert", tmp_path / "mini-llama", tmp_path / "empty"
    BertConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2).save_pretrained(bert)
    LlamaConfig(
        vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2
    ).save_pretrained(llama)
    empty.mkdir()
    settings.MODEL_DIRS = [bert, llama, empty]
    return bert, llama, empty


def test_the_run_form_offers_each_model_dir_with_what_it_is_and_its_learning_rate(
    client, carol, offered
):
    bert, llama, empty = offered
    client.force_login(carol)

    page = client.get("/dashboard/training/").content.decode()

    assert 'name="base" value="dir"' in page and 'id="base_dir"' in page
    assert f'value="{bert}">mini-bert: encoder, about 2.0M parameters, learning rate 5e-5' in page
    assert f'value="{llama}">mini-llama: decoder, about 0.2M parameters, learning rate 5e-5' in page
    # Not a model directory: not offered.
    assert f'value="{empty}"' not in page


def test_without_model_dirs_the_choice_is_there_but_disabled(client, carol, settings):
    settings.MODEL_DIRS = []
    client.force_login(carol)

    page = client.get("/dashboard/training/").content.decode()

    assert 'value="dir" disabled' in page and "none offered (MODEL_DIRS)" in page


def test_a_run_from_an_offered_directory_is_queued_from_the_form_and_the_api(
    client, api, carol, offered, django_capture_on_commit_callbacks
):
    bert, _, _ = offered
    client.force_login(carol)
    api.force_authenticate(carol)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        from_form = client.post(
            "/dashboard/training/", {"kind": "reward", "base": "dir", "base_dir": str(bert)}
        )
        from_api = api.post(
            "/api/training-runs/", {"kind": "reward", "base_model": str(bert)}, format="json"
        )

    assert from_form.status_code == 302 and from_api.status_code == 202, from_api.data
    assert [run.base_model for run in TrainingRun.objects.order_by("pk")] == [str(bert)] * 2
    assert len(queued) == 2


def test_model_dirs_reads_colon_separated_paths_and_json(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_DIRS", f"{tmp_path}/a:{tmp_path}/b")
    assert env_paths("MODEL_DIRS") == [tmp_path / "a", tmp_path / "b"]

    monkeypatch.setenv("MODEL_DIRS", f'["{tmp_path}/with:colon"]')
    assert env_paths("MODEL_DIRS") == [tmp_path / "with:colon"]

    monkeypatch.delenv("MODEL_DIRS")
    assert env_paths("MODEL_DIRS") == []
