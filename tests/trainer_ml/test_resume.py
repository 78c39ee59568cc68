import pytest
import torch

from trainer.ml.loop import Cancelled, TrainConfig, checkpoint_latest, train
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


def test_a_run_stopped_and_resumed_ends_with_the_weights_of_an_unbroken_one(
    tmp_path, small_threads
):
    train_groups, held_out = marker_groups(48, seed=3), marker_groups(8, seed=4)
    unbroken = Reward(config_in(tmp_path / "unbroken"), train_groups, held_out)
    train(unbroken, unbroken.config)

    broken_config = config_in(tmp_path / "broken")
    steps_seen = []

    def stop_after_step_seven() -> bool:
        steps_seen.append(1)
        return len(steps_seen) > 7

    with pytest.raises(Cancelled):
        train(
            Reward(broken_config, train_groups, held_out),
            broken_config,
            should_stop=stop_after_step_seven,
        )
    assert checkpoint_latest(tmp_path / "broken").name == "step-00000004"
    events = []
    # A fresh process would build everything again: so does the test.
    resumed = Reward(broken_config, train_groups, held_out)
    result = train(resumed, broken_config, on_event=events.append)

    assert events[0] == {"type": "resumed", "step": 4, "total_steps": 12}
    assert result.steps == 12
    expected = unbroken.model.state_dict()
    for name, tensor in resumed.model.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=1e-6, msg=name)
