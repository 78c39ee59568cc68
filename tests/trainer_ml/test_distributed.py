"""Data parallelism: two processes over gloo take the same steps as one process."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from .conftest import colour_conversations, groups_as_rows, jsonl_write, marker_groups
from .test_local_checkpoints import bert_base
from .test_reward_pooling import mean_pooled

SETTINGS = [
    "--set",
    "max_steps=6",
    "--set",
    "batch_size=8",
    "--set",
    "checkpoint_every=0",
    "--set",
    "log_every=2",
    "--set",
    "lr=1e-3",
]


def run_trainer(kind: str, data, output, *, processes: int, extra: tuple = ()) -> list[dict]:
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
        ]
        if processes > 1
        else [sys.executable]
    )
    command = [
        *launcher,
        "-m",
        f"trainer.ml.{kind}",
        "--train",
        str(data),
        "--output-dir",
        str(output),
        *SETTINGS,
        *extra,
    ]
    # One thread each: the comparison is about the arithmetic, not the machine.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model" / "model.safetensors"))


def assert_same_weights(one, two) -> None:
    """The same weights up to the order of float sums. AdamW divides each update by the
    root of its own squared gradients, so an element whose gradient is rounding noise in
    both runs can still move by up to lr (1e-3) per step either way: single elements are
    allowed a few steps' worth, while each tensor's mean difference must stay at rounding
    level (a run with half the batch per step differs by 3e-4 or more in every tensor)."""
    first, second = weights(one), weights(two)
    assert first.keys() == second.keys()
    for name in first:
        difference = (second[name].float() - first[name].float()).abs()
        assert difference.mean().item() < 1e-6, (name, difference.mean().item())
        assert difference.max().item() < 3e-3, (name, difference.max().item())


def test_two_gloo_processes_train_the_reward_model_like_one(tmp_path):
    data = jsonl_write(tmp_path / "rankings.jsonl", groups_as_rows(marker_groups(48, seed=7)))

    alone = run_trainer("reward", data, tmp_path / "one", processes=1)
    pair = run_trainer("reward", data, tmp_path / "two", processes=2)

    assert alone[-1]["type"] == "done" and pair[-1]["type"] == "done"
    # Only the first process reports, so the two-process log is as long as the other.
    assert [e["type"] for e in pair] == [e["type"] for e in alone]
    losses = [e["metrics"]["loss"] for e in alone if e["type"] == "progress"]
    pair_losses = [e["metrics"]["loss"] for e in pair if e["type"] == "progress"]
    assert pair_losses == [pytest.approx(x, rel=1e-4) for x in losses]
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    # The demonstration shift, scored half on each process in the pair, is the same.
    one, two = (
        json.loads((tmp_path / d / "model" / "config.json").read_text()) for d in ["one", "two"]
    )
    assert one["reward_bias"] != 0.0
    assert two["reward_bias"] == pytest.approx(one["reward_bias"], abs=1e-4)


def test_two_gloo_processes_train_a_mean_pooled_encoder_like_one(tmp_path):
    # Mean pooling leaves BERT's own pooler unread, a trainable weight with no gradient,
    # which DDP refuses unless it is frozen. No dropout, so the two runs can agree.
    groups = marker_groups(48, seed=7)
    no_dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    base = bert_base(tmp_path / "bert", groups, **no_dropout)
    mean_pooled(tmp_path / "bert")
    data = jsonl_write(tmp_path / "rankings.jsonl", groups_as_rows(groups))

    extra = ("--base-model", base)
    alone = run_trainer("reward", data, tmp_path / "one", processes=1, extra=extra)
    pair = run_trainer("reward", data, tmp_path / "two", processes=2, extra=extra)

    losses = [e["metrics"]["loss"] for e in alone if e["type"] == "progress"]
    pair_losses = [e["metrics"]["loss"] for e in pair if e["type"] == "progress"]
    assert pair_losses == [pytest.approx(x, rel=1e-4) for x in losses]
    for run in ("one", "two"):
        saved = json.loads((tmp_path / run / "model" / "config.json").read_text())
        assert saved["reward_pooling"] == "mean"


def test_two_gloo_processes_train_sft_like_one(tmp_path):
    rows = [{"messages": c} for c in colour_conversations(12)] * 2
    data = jsonl_write(tmp_path / "sft.jsonl", rows)

    run_trainer("sft", data, tmp_path / "one", processes=1)
    run_trainer("sft", data, tmp_path / "two", processes=2)

    assert_same_weights(tmp_path / "one", tmp_path / "two")
