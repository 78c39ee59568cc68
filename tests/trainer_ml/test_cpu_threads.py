"""Each training process takes its share of the cores it may run on, unless told a count."""

import os

import pytest
import torch

from trainer.ml.cpu_threads import threads_apply, threads_chosen
from trainer.ml.loop import TrainConfig


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    return monkeypatch


def test_one_process_takes_every_core_it_may_run_on(eight_cores):
    assert threads_chosen() == 8


def test_the_cores_are_shared_among_the_local_training_processes(eight_cores):
    eight_cores.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads_chosen() == 2
    eight_cores.setenv("LOCAL_WORLD_SIZE", "3")
    assert threads_chosen() == 2
    # More processes than cores: one thread each, never none.
    eight_cores.setenv("LOCAL_WORLD_SIZE", "16")
    assert threads_chosen() == 1


def test_an_explicit_count_wins_config_first_then_the_environment(eight_cores):
    eight_cores.setenv("LOCAL_WORLD_SIZE", "4")
    eight_cores.setenv("OMP_NUM_THREADS", "3")
    assert threads_chosen() == 3
    assert threads_chosen(5) == 5
    # Not a count: automatic again.
    for not_a_count in ("lots", "²"):
        eight_cores.setenv("OMP_NUM_THREADS", not_a_count)
        assert threads_chosen() == 2


def test_the_config_field_defaults_to_automatic_and_is_applied(eight_cores, tmp_path):
    assert TrainConfig(output_dir=str(tmp_path)).threads == 0
    before = torch.get_num_threads()
    try:
        assert threads_apply(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
