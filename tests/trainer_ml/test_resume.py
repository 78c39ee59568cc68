import pytest
import torch

from trainer.ml.checkpoints import checkpoint_latest
from trainer.ml.loop import Cancelled, Suspended, TrainConfig, train
from trainer.ml.reward import Reward

from .conftest import marker_groups


def config_in(folder, **overrides) -> TrainConfig:
    settings = dict(
        output_dir=str(folder),
        batch_size=4,
        grad_accum=2,
        max_steps=12,
        lr=1e-3,
        log_every=2,
        checkpoint_every=4,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


# Stopped by a cancel before step 8, a run keeps its step-4 checkpoint; suspended after
# step 7 (its worker shutting down), it writes one at step 7 on the way out.
@pytest.mark.parametrize(
    ("asking", "raised", "resumes_at"),
    [("should_stop", Cancelled, 4), ("should_suspend", Suspended, 7)],
)
def test_a_run_stopped_and_resumed_ends_with_the_weights_of_an_unbroken_one(
    tmp_path, small_threads, asking, raised, resumes_at
):
    train_groups, held_out = marker_groups(48, seed=3), marker_groups(8, seed=4)
    unbroken = Reward(config_in(tmp_path / "unbroken"), train_groups, held_out)
    train(unbroken, unbroken.config)

    broken_config = config_in(tmp_path / "broken")
    asked = []

    def true_once_step_seven_is_done() -> bool:
        # should_stop is asked before each step, should_suspend after it.
        asked.append(1)
        return len(asked) == (8 if asking == "should_stop" else 7)

    with pytest.raises(raised):
        train(
            Reward(broken_config, train_groups, held_out),
            broken_config,
            **{asking: true_once_step_seven_is_done},
        )
    assert checkpoint_latest(tmp_path / "broken").name == f"step-{resumes_at:08d}"
    events = []
    # A fresh process would build everything again: so does the test.
    resumed = Reward(broken_config, train_groups, held_out)
    result = train(resumed, broken_config, on_event=events.append)

    assert events[0] == {"type": "resumed", "step": resumes_at, "total_steps": 12}
    first_logged = resumes_at + 2 - resumes_at % 2  # log_every is 2
    progress = [e["step"] for e in events if e["type"] == "progress"]
    assert progress == list(range(first_logged, 13, 2))
    assert result.steps == 12
    expected = unbroken.model.state_dict()
    for name, tensor in resumed.model.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=1e-6, msg=name)


def test_a_suspension_asked_at_the_last_step_finishes_the_run(tmp_path, small_threads):
    config = config_in(tmp_path, max_steps=3, checkpoint_every=0, checkpoint_every_s=0)
    asked = []

    def suspend_at_the_last_step() -> bool:
        asked.append(1)
        return len(asked) == 3

    result = train(
        Reward(config, marker_groups(24, seed=3)), config, should_suspend=suspend_at_the_last_step
    )
    assert result.steps == 3 and (tmp_path / "model").is_dir()
    assert checkpoint_latest(tmp_path) is None


@pytest.mark.parametrize(("every_s", "expected"), [(1e-9, [1, 2, 3, 4, 5]), (0, [])])
def test_checkpoints_are_written_when_their_time_is_due(tmp_path, small_threads, every_s, expected):
    # checkpoint_every off: only the clock writes them (a tiny interval: at every step).
    config = config_in(tmp_path, max_steps=6, checkpoint_every=0, checkpoint_every_s=every_s)
    events = []
    train(Reward(config, marker_groups(48, seed=3)), config, on_event=events.append)

    assert [e["step"] for e in events if e["type"] == "checkpoint"] == expected
    latest = checkpoint_latest(tmp_path)
    assert (latest.name if latest else None) == (f"step-{expected[-1]:08d}" if expected else None)
