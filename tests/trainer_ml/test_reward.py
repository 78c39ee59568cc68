import pytest
import torch
from transformers import AutoModelForSequenceClassification

from trainer.ml.data import RankedGroup, groups_read
from trainer.ml.loop import TrainConfig, train
from trainer.ml.reward import Reward, RewardScorer

from .conftest import MARKER, groups_as_rows, jsonl_write, marker_groups


def reward_config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(
        output_dir=str(tmp_path / "run"),
        batch_size=8,
        epochs=2,
        lr=1e-3,
        log_every=5,
        checkpoint_every=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_ties_make_no_pair_and_k_distinct_places_make_all_pairs():
    prompt = [{"role": "user", "content": "q"}]
    replies = [[{"role": "assistant", "content": c}] for c in "abcd"]

    assert len(RankedGroup(prompt, replies, [[0], [1], [2], [3]]).pairs()) == 6
    assert RankedGroup(prompt, replies, [[2], [0, 1], [3]]).pairs() == [
        (2, 0),
        (2, 1),
        (2, 3),
        (0, 3),
        (1, 3),
    ]
    assert RankedGroup(prompt, replies, [[0, 1, 2, 3]]).pairs() == []


def test_the_reward_model_learns_a_planted_preference(tmp_path, small_threads):
    config = reward_config(tmp_path)
    method = Reward(config, marker_groups(160, seed=1), marker_groups(40, seed=2))
    before = {k: v.clone() for k, v in method.model.state_dict().items()}

    result = train(method, config)

    evaluation = result.metrics["eval"]
    assert evaluation["validation_accuracy"] > 0.9
    assert evaluation["validation_pairs"] == 40 * 3  # one winner, three tied losers
    assert evaluation["reward_std"] > 0
    after = method.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)

    # The saved folder loads as an ordinary sequence classifier (what TRL and vLLM use),
    # and scores with the demonstration shift put approved replies at 0 on average.
    plain = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    assert plain.config.num_labels == 1
    scorer = RewardScorer(result.model_dir)
    prompt = [{"role": "user", "content": "the river runs"}]
    with_marker = scorer.score(prompt, f"the green {MARKER} tree sings")
    without = scorer.score(prompt, "the green quiet tree sings")
    assert with_marker > without
    winners = [g.prompt + g.completions[g.ranking[0][0]] for g in marker_groups(160, seed=1)]
    shifted = [scorer.score(c[:-1], c[-1]["content"]) for c in winners]
    assert sum(shifted) / len(shifted) == pytest.approx(0.0, abs=1e-3)


def test_preference_pairs_and_rankings_read_from_snapshot_files(tmp_path):
    groups = marker_groups(3, seed=5)
    rankings = jsonl_write(tmp_path / "rankings.jsonl", groups_as_rows(groups))
    pair = {
        "prompt": groups[0].prompt,
        "chosen": groups[0].completions[0],
        "rejected": groups[0].completions[1],
    }
    tied = {"prompt": groups[0].prompt, "completions": groups[0].completions, "ranking": [[0, 1]]}
    mixed = jsonl_write(tmp_path / "mixed.jsonl", [pair, tied])

    assert groups_read(rankings) == groups
    read = groups_read(mixed)
    assert len(read) == 1  # the all-tied ranking teaches nothing and is left out
    assert read[0].ranking == [[0], [1]]
