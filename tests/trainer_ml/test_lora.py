"""LoRA runs (lora_r > 0) on small Llama and Qwen2 checkpoints the tests save themselves:
only the adapters, the chat tokens' rows and a reward model's head learn, the adapter
reloads into its base, and the merged copy is a plain model the platform loads."""

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from trainer.ml.chat import TURN_TOKENS
from trainer.ml.checkpoints import checkpoint_latest
from trainer.ml.cli import arguments_parse, config_from_args
from trainer.ml.defaults import FROM_SCRATCH_LR, LORA_LR
from trainer.ml.generate import Generator, Sampling
from trainer.ml.loop import Cancelled, TrainConfig, train
from trainer.ml.lora import ADAPTER_DIR, LORA_KEY
from trainer.ml.methods import training_method
from trainer.ml.reward import Reward, RewardScorer
from trainer.ml.sft import SFT

from .conftest import (
    colour_conversations,
    groups_as_rows,
    jsonl_write,
    lora_config,
    marker_groups,
    small_checkpoint,
)
from .test_distributed import assert_same_weights, run_trainer

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
FEED_FORWARD = ("gate_proj", "up_proj", "down_proj")


def changed_weights(trained: dict, base: dict) -> set[str]:
    assert trained.keys() == base.keys()
    return {name for name, tensor in trained.items() if not torch.equal(tensor, base[name])}


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
def test_sft_with_lora_trains_the_adapters_alone_and_saves_them_beside_a_merged_copy(
    tmp_path, small_threads, architecture
):
    base = small_checkpoint(tmp_path / "base", architecture)
    config = lora_config(tmp_path, base)

    method = SFT(config, colour_conversations(8))
    trainable = {n for n, p in method.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "trainable_tokens" in n for n in trainable)
    result = train(method, config)

    base_model = AutoModelForCausalLM.from_pretrained(base)
    merged = AutoModelForCausalLM.from_pretrained(result.model_dir)
    changed = changed_weights(merged.state_dict(), base_model.state_dict())
    # Every projection of every layer (attention and feed-forward), and the input and
    # output rows of the chat tokens; norms and the rest of the embeddings as they were.
    projections = {
        f"model.layers.{layer}.{block}.{name}.weight"
        for layer in range(2)
        for block, names in (("self_attn", ATTENTION), ("mlp", FEED_FORWARD))
        for name in names
    }
    assert changed == projections | {"model.embed_tokens.weight", "lm_head.weight"}
    rows = method.tokenizer.convert_tokens_to_ids(TURN_TOKENS)
    other = torch.ones(merged.config.vocab_size, dtype=torch.bool)
    other[rows] = False
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        assert torch.equal(merged.state_dict()[name][other], base_model.state_dict()[name][other])

    saved = json.loads((result.model_dir / "config.json").read_text())[LORA_KEY]
    assert saved["base_model"] == base and saved["r"] == 4 and saved["alpha"] == 8.0
    assert set(saved["target_modules"]) == set(ATTENTION + FEED_FORWARD)
    assert json.loads((result.model_dir / "training.json").read_text())["config"]["lora_r"] == 4

    adapter = result.model_dir / ADAPTER_DIR
    assert (adapter / "adapter_config.json").is_file()
    reloaded = PeftModel.from_pretrained(base_model, adapter).eval()
    ids = torch.tensor([method.train_set[0].ids])
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded(input_ids=ids).logits, merged.eval()(input_ids=ids).logits, atol=1e-5, rtol=0
        )

    replies = Generator(result.model_dir).sample(
        colour_conversations(1)[0][:2], Sampling(k=1, temperature=0.0, max_new_tokens=8)
    )
    assert len(replies) == 1 and isinstance(replies[0], str)


def test_a_reward_model_with_lora_trains_its_score_head_in_full(tmp_path, small_threads):
    base = small_checkpoint(tmp_path / "base", "llama")
    config = lora_config(tmp_path, base, lora_target_modules=["q_proj", "v_proj"], lora_alpha=4)

    method = Reward(config, marker_groups(16, seed=5))
    fresh_head = method.model.score.original_module.weight.detach().clone()
    result = train(method, config)

    body = AutoModelForCausalLM.from_pretrained(base).model.state_dict()
    merged = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    trained = {k.removeprefix("model."): v for k, v in merged.state_dict().items()}
    assert not torch.equal(trained.pop("score.weight"), fresh_head)
    targeted = {
        f"layers.{layer}.self_attn.{name}.weight"
        for layer in range(2)
        for name in ("q_proj", "v_proj")
    }
    assert changed_weights(trained, body) == targeted | {"embed_tokens.weight"}

    saved = json.loads((result.model_dir / "config.json").read_text())
    assert saved[LORA_KEY]["alpha"] == 4.0 and saved[LORA_KEY]["target_modules"] == [
        "q_proj",
        "v_proj",
    ]
    # The merged copy scores as the model did in training, the demonstration shift included.
    scorer = RewardScorer(result.model_dir)
    group = method.train_set[0]
    expected = method.scores(group.sequences[:1])
    first = marker_groups(16, seed=5)[0]
    reply = first.completions[0][0]["content"]
    assert scorer.score(first.prompt, reply) == pytest.approx(float(expected[0]), abs=1e-4)


def test_a_lora_run_resumed_from_its_checkpoint_ends_as_an_unbroken_one(tmp_path, small_threads):
    base = small_checkpoint(tmp_path / "base", "llama")
    conversations = colour_conversations(8)
    unbroken_config = lora_config(tmp_path / "unbroken", base, checkpoint_every=3)
    unbroken = SFT(unbroken_config, conversations)
    train(unbroken, unbroken_config)

    config = lora_config(tmp_path / "broken", base, checkpoint_every=3)
    asked = []

    def stop_before_step_five() -> bool:
        asked.append(1)
        return len(asked) == 5

    with pytest.raises(Cancelled):
        train(SFT(config, conversations), config, should_stop=stop_before_step_five)
    # The checkpoint holds what trains; the frozen base is loaded again from its folder.
    checkpoint = checkpoint_latest(Path(config.output_dir)) / "state.pt"
    saved = torch.load(checkpoint, weights_only=False)["module"]
    assert saved and all("lora_" in name or "trainable_tokens" in name for name in saved)
    resumed = SFT(config, conversations)
    result = train(resumed, config)

    assert result.steps == 6
    expected = AutoModelForCausalLM.from_pretrained(Path(unbroken_config.output_dir) / "model")
    got = AutoModelForCausalLM.from_pretrained(result.model_dir).state_dict()
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_a_lora_run_on_a_pretrained_base_defaults_to_the_lora_rate_from_the_shell_too(tmp_path):
    base = small_checkpoint(tmp_path / "base", "llama")
    method = training_method("sft")
    argv = ["--train", "t.jsonl", "--output-dir", str(tmp_path / "run"), "--base-model", base]
    lora = ["--set", "lora_r=8", "--set", "lora_target_modules=q_proj, v_proj"]

    config = config_from_args(arguments_parse(method, [*argv, *lora]), method.config_type())

    assert config.lr == LORA_LR and config.lora_r == 8
    assert config.lora_target_modules == ("q_proj", "v_proj")
    # From scratch there is nothing to keep: the tiny model's own rate.
    assert TrainConfig.from_dict({"output_dir": "x", "lora_r": 8}).lr == FROM_SCRATCH_LR


def test_two_gloo_processes_train_a_lora_reward_model_like_one(tmp_path):
    base = small_checkpoint(tmp_path / "base", "llama")
    groups = marker_groups(48, seed=7)
    data = jsonl_write(tmp_path / "rankings.jsonl", groups_as_rows(groups))
    # Without dropout: each process would draw its own masks.
    lora = {"lora_r": 4, "lora_dropout": 0.0}
    # The settings test_distributed gives the command line.
    config = TrainConfig(
        output_dir=str(tmp_path / "one"),
        base_model=base,
        max_steps=6,
        batch_size=8,
        checkpoint_every=0,
        log_every=2,
        lr=1e-3,
        **lora,
    )
    train(Reward(config, groups), config)

    extra = ["--base-model", base, *(f for k, v in lora.items() for f in ("--set", f"{k}={v}"))]
    pair = run_trainer("reward", data, tmp_path / "two", processes=2, extra=tuple(extra))

    assert pair[-1]["type"] == "done"
    assert (tmp_path / "two" / "model" / ADAPTER_DIR / "adapter_config.json").is_file()
    assert_same_weights(tmp_path / "one", tmp_path / "two")
