"""The registry of training methods: every method is one entry naming its module, and that
module builds a Method that trains and reports what the entry says it does."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from trainer.ml.cli import arguments_parse
from trainer.ml.loop import TrainConfig, train
from trainer.ml.methods import (
    TrainingData,
    TrainingMethod,
    UnknownMethod,
    method_register,
    training_method,
    training_methods,
)

from .conftest import colour_conversations, groups_as_rows, jsonl_write, marker_groups

QUICK = {"max_steps": 2, "batch_size": 4, "log_every": 1, "checkpoint_every": 0}
# Every registered method, a method added later included.
NAMES = [method.name for method in training_methods()]


def test_sft_and_reward_are_registered_with_what_they_train_on():
    by_name = {method.name: method for method in training_methods()}

    assert by_name["sft"].snapshot_kinds == ("sft",)
    assert by_name["reward"].snapshot_kinds == ("rankings", "preference")
    assert by_name["reward"].wants_demonstrations and not by_name["sft"].wants_demonstrations
    assert training_method("sft") is by_name["sft"]


@pytest.mark.parametrize("name", NAMES)
def test_each_method_module_has_a_config_of_its_own_and_a_factory(name):
    method = training_method(name)
    module = method.implementation()

    assert module.__name__ == method.module
    config_type = method.config_type()
    assert dataclasses.is_dataclass(config_type) and issubclass(config_type, TrainConfig)
    assert config_type is not TrainConfig
    # Every setting has a default but where the run's files go.
    defaults = {f.name for f in dataclasses.fields(config_type) if f.default is dataclasses.MISSING}
    assert defaults == {"output_dir"}
    assert callable(module.build) and callable(module.main)


def test_an_unknown_method_is_a_clear_error():
    with pytest.raises(UnknownMethod, match=r"No training method 'ppo'; known: sft, reward\b"):
        training_method("ppo")
    # A name from a request may be any JSON value.
    with pytest.raises(UnknownMethod):
        training_method(["sft"])  # type: ignore[arg-type]


def test_a_method_is_registered_once_and_trains_on_something():
    sft = training_method("sft")

    with pytest.raises(ValueError, match="registered twice"):
        method_register(sft)
    with pytest.raises(ValueError, match="no snapshot kind"):
        method_register(dataclasses.replace(sft, name="empty", snapshot_kinds=()))
    # The refused ones were not added.
    assert [m.name for m in training_methods()] == NAMES


def test_the_registry_loads_no_torch():
    """The web process checks run requests against it and must not load torch."""
    probe = "import sys, trainer.ml.methods; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_only_a_method_that_wants_demonstrations_takes_them_on_the_command_line(capsys):
    argv = ["--train", "t.jsonl", "--output-dir", "out", "--demonstrations", "d.jsonl"]

    assert arguments_parse(training_method("reward"), argv).demonstrations == "d.jsonl"
    with pytest.raises(SystemExit):
        arguments_parse(training_method("sft"), argv)
    assert "unrecognized arguments: --demonstrations" in capsys.readouterr().err


def training_files(method: TrainingMethod, folder) -> TrainingData:
    """A few rows of the kind a fresh export for the method makes."""
    kind = method.snapshot_kinds[0]
    if kind == "sft":
        rows = [{"messages": c} for c in colour_conversations(12)]
        train_rows, validation_rows = rows[:8], rows[8:]
    elif kind == "rankings":
        train_rows = groups_as_rows(marker_groups(8, seed=1))
        validation_rows = groups_as_rows(marker_groups(4, seed=2))
    else:
        pytest.fail(f"No test rows for {kind} snapshots yet: add some here.")
    return TrainingData(
        train=jsonl_write(folder / "train.jsonl", train_rows),
        validation=jsonl_write(folder / "validation.jsonl", validation_rows),
        reward_model=reward_model_trained(folder) if method.wants_reward_model else None,
    )


def reward_model_trained(folder) -> Path:
    """A reward model of two steps, for a method that scores its samples with one."""
    reward = training_method("reward")
    config = reward.config_type().from_dict({**QUICK, "output_dir": str(folder / "reward")})
    (folder / "reward").mkdir()
    return train(reward.build(config, training_files(reward, folder / "reward")), config).model_dir


@pytest.mark.parametrize("name", NAMES)
def test_each_method_trains_and_reports_the_metrics_it_registered(name, tmp_path, small_threads):
    method = training_method(name)
    config = method.config_type().from_dict({**QUICK, "output_dir": str(tmp_path / "run")})

    result = train(method.build(config, training_files(method, tmp_path)), config)

    assert set(result.metrics["eval"]) == set(method.metrics)
    progress = [record for record in result.history if "loss" in record]
    assert progress and all(set(method.counters) <= set(record) for record in progress)
    saved = json.loads((result.model_dir / "training.json").read_text())
    assert saved["config"]["max_steps"] == 2
