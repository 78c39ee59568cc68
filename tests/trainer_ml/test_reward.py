import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification

from trainer.ml.batching import length_runs, right_padded
from trainer.ml.chat import tokenizer_train
from trainer.ml.data import RankedGroup, groups_read
from trainer.ml.loop import TrainConfig, train
from trainer.ml.modeling import reward_model_load
from trainer.ml.reward import (
    CPU_FORWARD_COST,
    Reward,
    RewardScorer,
    llama_scores,
    llama_scores_apply,
)

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


def test_length_runs_cover_every_row_once_and_split_only_where_padding_costs_more():
    lengths = [250, 12, 240, 10, 256, 14]

    runs = length_runs(lengths, forward_cost=64)

    assert runs == [[3, 1, 5], [2, 0, 4]]
    assert length_runs(lengths, forward_cost=10_000) == [[3, 1, 5, 2, 0, 4]]
    assert length_runs([7, 7, 7], forward_cost=0) == [[0, 1, 2]]


def test_a_step_forwarded_in_length_runs_has_the_loss_of_one_padded_batch(tmp_path):
    # Replies of very different lengths, so that the step's rows are split.
    groups = marker_groups(6, seed=3)
    for n, group in enumerate(groups):
        group.completions[n % 4][0]["content"] += " the river runs" * 60
    method = Reward(reward_config(tmp_path), groups)
    shard = list(range(len(groups)))
    sequences = [s for i in shard for s in method.train_set[i].sequences]
    assert len(length_runs([len(s) for s in sequences], forward_cost=CPU_FORWARD_COST)) > 1

    split, stats = method.loss_sum(method.module, shard)

    scores = method.module([method._batch(sequences)])
    better, worse, weight = method._pairs([method.train_set[i] for i in shard], scores.device)
    whole = (-F.logsigmoid(scores[better] - scores[worse]) * weight).sum()
    assert float(split.detach()) == pytest.approx(float(whole.detach()), rel=1e-5)
    assert stats["pairs"] == 6 * 3


def test_llama_scores_with_the_last_layer_at_row_ends_equal_the_models_own_scores():
    tokenizer = tokenizer_train(["the river runs under the bright stone bridge"] * 20)
    torch.manual_seed(4)
    model = reward_model_load("", tokenizer, max_length=64)
    assert llama_scores_apply(model)
    rows = [
        [5 + (i * 7 + j) % 40 for j in range(length)] for i, length in enumerate([9, 30, 1, 17])
    ]
    ids = right_padded(rows, tokenizer.pad_token_id, torch.device("cpu"))
    lengths = torch.tensor([len(r) for r in rows])

    fast = llama_scores(model, ids, lengths)
    fast.sum().backward()
    fast_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    own = model(input_ids=ids).logits[:, 0]
    own.sum().backward()

    assert torch.allclose(fast, own, atol=1e-5)
    for fast_grad, own_grad in zip(fast_grads, (p.grad for p in model.parameters()), strict=True):
        assert torch.allclose(fast_grad, own_grad, atol=1e-5)


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


def test_scores_come_back_in_the_order_given_though_chunks_are_cut_by_length(tmp_path):
    method = Reward(reward_config(tmp_path, batch_size=2), marker_groups(16, seed=4))
    lengths = [40, 3, 25, 7, 60, 3, 18, 33, 9, 50, 12, 1]  # chunks of 8: two, mixed lengths
    sequences = [[5 + (i * 7 + j) % 90 for j in range(n)] for i, n in enumerate(lengths)]

    together = method.scores(sequences)
    alone = torch.cat([method.scores([s]) for s in sequences])

    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)
