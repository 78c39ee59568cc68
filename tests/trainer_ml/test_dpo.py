"""DPO on a planted preference (the reply with the marker word wins): the policy learns to
prefer it over the reference, the reference's log-probabilities are computed once and
read back on resume, LoRA trains only its adapters, and two processes train as one."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from trainer.ml import dpo
from trainer.ml.checkpoints import checkpoint_latest
from trainer.ml.dpo import DPO, REFERENCE_FILE, DPOConfig, dpo_losses
from trainer.ml.generate import Generator, Sampling
from trainer.ml.loop import Suspended, train

from .conftest import groups_as_rows, jsonl_write, lora_config, marker_groups, small_checkpoint
from .test_distributed import assert_same_weights, run_trainer
from .test_lora import changed_weights


def dpo_config(folder, **overrides) -> DPOConfig:
    settings = dict(
        output_dir=str(folder),
        batch_size=8,
        max_steps=8,
        lr=1e-3,
        log_every=4,
        checkpoint_every=0,
        max_length=64,
    )
    settings.update(overrides)
    return DPOConfig(**settings)


def log_prob_margins(method: DPO, *, reference: bool) -> torch.Tensor:
    """log p(better) - log p(worse) of every held-out pair, under the policy or the
    reference."""
    groups = method.validation_set
    if reference:
        values = torch.cat(method.reference[len(method.train_set) :])
    else:
        values = method.log_probs([s for g in groups for s in g.sequences])
    margins, offset = [], 0
    for group in groups:
        margins += [float(values[offset + a] - values[offset + b]) for a, b in group.pairs]
        offset += len(group.sequences)
    return torch.tensor(margins)


def test_dpo_prefers_the_held_out_chosen_replies_more_than_the_reference_does(
    tmp_path, small_threads, monkeypatch
):
    config = dpo_config(tmp_path)
    method = DPO(config, marker_groups(32, seed=1), marker_groups(12, seed=2))
    before = method.evaluate()
    reference = log_prob_margins(method, reference=True)

    result = train(method, config)

    after = result.metrics["eval"]
    policy = log_prob_margins(method, reference=False)
    # The policy starts as the reference: no implicit reward, so no margin (up to the
    # rounding of batches padded differently).
    assert abs(before["validation_margin"]) < 1e-4
    assert abs(before["validation_kl"]) < 1e-4
    assert after["validation_pairs"] == 12 * 3
    assert after["validation_accuracy"] > 0.8
    assert after["validation_margin"] > 0.5
    assert after["validation_chosen_reward"] > after["validation_rejected_reward"]
    assert after["validation_loss"] < before["validation_loss"]
    # A KL over the whole vocabulary at each reply token: never below 0, and the policy
    # has left the reference.
    assert after["validation_kl"] > 0.01
    # Accuracy counts the pairs whose better reply the policy raised more than the worse
    # one over the reference, which no pair is at the start. In plain log-probabilities,
    # which the replies' lengths dominate, the margin rises above the reference's too.
    assert policy.mean() > reference.mean() + 1.0
    # The KL read one reply a pass (a long reply alone in its pass) is the same.
    chosen = [g.sequences[a] for g in method.validation_set for a, _ in g.pairs]
    whole = method.reply_kl(chosen)
    monkeypatch.setattr(dpo, "KL_TOKENS", 1)
    assert torch.allclose(method.reply_kl(chosen), whole, atol=1e-5)


def test_label_smoothing_counts_a_share_of_each_pair_the_other_way():
    policy = torch.tensor([-1.0, -3.0])
    reference = torch.tensor([-2.0, -2.0])
    better, worse = torch.tensor([0]), torch.tensor([1])

    plain = dpo_losses(policy, reference, better, worse, beta=0.5, smoothing=0.0)
    smoothed = dpo_losses(policy, reference, better, worse, beta=0.5, smoothing=0.2)

    # beta * ((-1 + 2) - (-3 + 2)) = 1
    one = torch.tensor(1.0)
    assert float(plain) == pytest.approx(float(-torch.nn.functional.logsigmoid(one)))
    expected = 0.8 * -torch.nn.functional.logsigmoid(one) - 0.2 * torch.nn.functional.logsigmoid(
        -one
    )
    assert float(smoothed) == pytest.approx(float(expected))


def test_a_resumed_run_reads_the_cached_reference_and_ends_as_an_unbroken_one(
    tmp_path, small_threads
):
    train_groups, held_out = marker_groups(16, seed=3, k=2), marker_groups(4, seed=4, k=2)
    unbroken_config = dpo_config(tmp_path / "unbroken", max_steps=8, batch_size=4)
    unbroken = DPO(unbroken_config, train_groups, held_out)
    assert not unbroken.reference_cached
    unbroken_result = train(unbroken, unbroken_config)

    config = dpo_config(tmp_path / "broken", max_steps=8, batch_size=4, checkpoint_every=4)
    first = DPO(config, train_groups, held_out)
    cache = tmp_path / "broken" / REFERENCE_FILE
    saved = json.loads(cache.read_text())["values"]
    assert len(saved) == 20 * 2
    assert saved == pytest.approx(torch.cat(first.reference).tolist(), abs=0)
    asked = []

    def after_step_five() -> bool:
        asked.append(1)
        return len(asked) == 5

    with pytest.raises(Suspended):
        train(first, config, should_suspend=after_step_five)
    assert checkpoint_latest(tmp_path / "broken").name == "step-00000005"

    resumed = DPO(config, train_groups, held_out)
    assert resumed.reference_cached
    assert torch.cat(resumed.reference).tolist() == pytest.approx(saved, abs=0)
    result = train(resumed, config)

    assert result.steps == 8
    assert result.metrics["eval"] == pytest.approx(unbroken_result.metrics["eval"], abs=1e-5)
    expected = unbroken.model.state_dict()
    for name, tensor in resumed.model.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=1e-6, msg=name)


def test_the_reference_comes_from_the_cache_of_the_same_data_only(tmp_path, small_threads):
    config = dpo_config(tmp_path)
    DPO(config, marker_groups(8, seed=3))
    cache = tmp_path / REFERENCE_FILE
    saved = json.loads(cache.read_text())
    # Values no model would give: a run that reads the cache has them as its reference,
    # one that computed it again would not.
    saved["values"] = [-float(i) for i in range(len(saved["values"]))]
    cache.write_text(json.dumps(saved))

    again = DPO(config, marker_groups(8, seed=3))
    other = DPO(config, marker_groups(8, seed=5))

    assert again.reference_cached
    assert torch.cat(again.reference).tolist() == saved["values"]
    assert not other.reference_cached


def test_dpo_with_lora_trains_the_adapters_alone_and_saves_a_generative_model(
    tmp_path, small_threads
):
    base = small_checkpoint(tmp_path / "base", "llama")
    settings = vars(lora_config(tmp_path, base, lora_target_modules=("q_proj", "v_proj")))
    config = DPOConfig(**{**settings, "beta": 0.5})

    method = DPO(config, marker_groups(16, seed=5))
    trainable = {n for n, p in method.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "trainable_tokens" in n for n in trainable)
    # The reference is the model with its adapters off, which start at zero.
    assert abs(method.evaluate()["train_kl"]) < 1e-4
    result = train(method, config)
    assert result.metrics["eval"]["train_kl"] > 0.0

    merged = AutoModelForCausalLM.from_pretrained(result.model_dir)
    changed = changed_weights(
        merged.state_dict(), AutoModelForCausalLM.from_pretrained(base).state_dict()
    )
    targeted = {
        f"model.layers.{layer}.self_attn.{name}.weight"
        for layer in range(2)
        for name in ("q_proj", "v_proj")
    }
    assert changed == targeted | {"model.embed_tokens.weight", "lm_head.weight"}
    replies = Generator(result.model_dir).sample(
        marker_groups(1, seed=9)[0].prompt, Sampling(k=1, temperature=0.0, max_new_tokens=4)
    )
    assert len(replies) == 1 and isinstance(replies[0], str)


def test_two_gloo_processes_train_dpo_like_one(tmp_path):
    data = jsonl_write(tmp_path / "rankings.jsonl", groups_as_rows(marker_groups(48, seed=7)))

    alone = run_trainer("dpo", data, tmp_path / "one", processes=1)
    pair = run_trainer("dpo", data, tmp_path / "two", processes=2)

    assert alone[-1]["type"] == "done" and pair[-1]["type"] == "done"
    losses = [e["metrics"]["loss"] for e in alone if e["type"] == "progress"]
    pair_losses = [e["metrics"]["loss"] for e in pair if e["type"] == "progress"]
    assert pair_losses == [pytest.approx(x, rel=1e-4) for x in losses]
    # The reference, computed half on each process, is the same.
    one, two = (json.loads((tmp_path / d / REFERENCE_FILE).read_text()) for d in ("one", "two"))
    assert two["values"] == pytest.approx(one["values"], abs=1e-4)
    assert_same_weights(tmp_path / "one", tmp_path / "two")
