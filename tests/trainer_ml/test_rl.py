"""RL against a planted reward: a reward model trained to pay for a marker word, a policy
fine-tuned on replies that rarely hold it, and RL in between."""

import json
import random

import pytest
import torch
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

from trainer.ml.chat import tokenizer_train
from trainer.ml.checkpoints import checkpoint_latest
from trainer.ml.generate import Generator
from trainer.ml.loop import Cancelled, TrainConfig, train
from trainer.ml.methods import TrainingData
from trainer.ml.reward import Reward, RewardScorer
from trainer.ml.rl import RL, RLConfig, build, leave_one_out, length_share, prompts_read
from trainer.ml.sampling import Sampling
from trainer.ml.sft import SFT

from .conftest import MARKER, SHAPE, WORDS, jsonl_write, marker_groups, sentence
from .test_distributed import run_trainer, weights

# One reply in eight of the demonstrations holds the marker: the SFT model says it now
# and then, which gives RL samples that earn the reward to learn from.
MARKER_RATE = 0.125


def prompts(count: int, seed: int) -> list[list[dict]]:
    rng = random.Random(seed)
    return [[{"role": "user", "content": sentence(rng)}] for _ in range(count)]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(SFT model, reward model) directories, both trained for real from a small Llama."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    folder = tmp_path_factory.mktemp("planted")
    rng = random.Random(0)
    demonstrations = [
        [
            {"role": "user", "content": sentence(rng)},
            {"role": "assistant", "content": sentence(rng, marker=rng.random() < MARKER_RATE)},
        ]
        for _ in range(160)
    ]
    texts = [" ".join([*WORDS, MARKER])] * 3 + [m["content"] for c in demonstrations for m in c]
    tokenizer = tokenizer_train(texts, vocab_size=300)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **SHAPE,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder / "base")
    tokenizer.save_pretrained(folder / "base")
    common = dict(base_model=str(folder / "base"), batch_size=8, checkpoint_every=0)
    sft_config = TrainConfig(output_dir=str(folder / "sft"), max_steps=100, lr=1e-2, **common)
    sft = train(SFT(sft_config, demonstrations), sft_config).model_dir
    reward_config = TrainConfig(output_dir=str(folder / "rm"), max_steps=40, lr=3e-3, **common)
    reward = Reward(reward_config, marker_groups(160, seed=1), marker_groups(40, seed=2))
    result = train(reward, reward_config)
    assert result.metrics["eval"]["validation_accuracy"] > 0.9
    yield sft, result.model_dir
    torch.set_num_threads(before)


# Enough for RL to learn the planted reward (tests/trainer/test_loop_end_to_end.py runs
# it through the platform with these too).
RL_SETTINGS = dict(
    batch_size=8,
    max_steps=12,
    lr=3e-3,
    warmup_ratio=0.0,
    max_new_tokens=20,
    eval_prompts=8,
    log_every=4,
    checkpoint_every=0,
)


def rl_config(folder, sft, **overrides) -> RLConfig:
    settings = dict(output_dir=str(folder), base_model=str(sft), **RL_SETTINGS)
    return RLConfig(**{**settings, **overrides})


def marker_share(model_dir, asked: list[list[dict]]) -> float:
    generator = Generator(model_dir)
    sampling = Sampling(k=8, temperature=1.0, top_p=1.0, max_new_tokens=20, seed=7)
    replies = [reply for prompt in asked for reply in generator.sample(prompt, sampling)]
    return sum(MARKER in reply for reply in replies) / len(replies)


def test_rl_makes_the_policy_say_what_the_reward_model_pays_for_while_staying_close(
    tmp_path, planted
):
    sft, reward = planted
    config = rl_config(tmp_path / "rl", sft)
    method = RL(config, prompts(16, seed=5), RewardScorer(reward))

    result = train(method, config)

    held_out = prompts(12, seed=6)
    before, after = marker_share(sft, held_out), marker_share(result.model_dir, held_out)
    assert after > max(2 * before, before + 0.3), (before, after)
    evaluation = result.metrics["eval"]
    assert evaluation["train_reward_gain"] > 0.5
    # Summed over a reply's tokens (about 16): under 25 nats is under 1.6 a token, and
    # costs at most 1.25 of reward at kl_coef 0.05, half the gain.
    assert 0 < evaluation["train_kl"] < 25
    records = [r for r in result.history if "reward" in r]
    assert records[-1]["reward"] > records[0]["reward"]
    assert {"kl", "entropy", "reply_length", "samples"} <= set(records[0])
    assert records[0]["samples"] == 4 * 8 * 4  # log_every steps of 8 prompts, 4 replies each


def test_a_stopped_rl_run_resumes_to_the_weights_of_an_unbroken_one(tmp_path, planted):
    sft, reward = planted
    scorer = RewardScorer(reward)
    asked = prompts(16, seed=5)
    settings = dict(max_steps=5, checkpoint_every=2, log_every=1)
    unbroken_config = rl_config(tmp_path / "unbroken", sft, **settings)
    unbroken = RL(unbroken_config, asked, scorer)
    train(unbroken, unbroken_config)

    config = rl_config(tmp_path / "broken", sft, **settings)
    calls = []

    def before_step_four() -> bool:
        calls.append(1)
        return len(calls) == 4

    with pytest.raises(Cancelled):
        train(RL(config, asked, scorer), config, should_stop=before_step_four)
    assert checkpoint_latest(tmp_path / "broken").name == "step-00000002"
    resumed = RL(config, asked, scorer)
    result = train(resumed, config)

    assert result.steps == 5
    expected = unbroken.model.state_dict()
    for name, tensor in resumed.model.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=1e-6, msg=name)


def test_with_lora_the_reference_is_the_base_with_its_adapters_off(tmp_path, planted):
    sft, reward = planted
    config = rl_config(tmp_path / "rl", sft, lora_r=4, max_steps=3, lr=1e-2)
    method = RL(config, prompts(16, seed=5), RewardScorer(reward))
    assert method.module.reference is None
    # Adapters start at zero: the policy is its reference until it trains.
    assert method.evaluate()["train_kl"] == pytest.approx(0.0, abs=1e-5)

    result = train(method, config)

    assert result.metrics["eval"]["train_kl"] > 0
    assert (result.model_dir / "adapter").is_dir()
    assert Generator(result.model_dir).sample(prompts(1, seed=9)[0], Sampling(k=2))


def test_each_reply_is_compared_with_the_mean_of_the_others_to_its_prompt():
    returns = torch.tensor([1.0, 2.0, 3.0, 6.0, 10.0, 10.0, 10.0, 10.0])

    advantage = leave_one_out(returns, 4)

    assert advantage.tolist() == pytest.approx([1 - 11 / 3, 2 - 10 / 3, 3 - 3, 6 - 2, 0, 0, 0, 0])


def test_the_length_share_tells_a_gain_from_length_from_one_from_content():
    short, long = [5, 6, 5, 6], [15, 16, 15, 16]
    # Reward is length: all of the gain comes from writing longer.
    assert length_share(short, [5.0, 6.0, 5.0, 6.0], long, [15.0, 16.0, 15.0, 16.0]) == (
        pytest.approx(1.0)
    )
    # Same lengths before and after: none of it does.
    assert length_share(short, [0.0, 0.1, 0.0, 0.1], short, [2.0, 2.1, 2.0, 2.1]) == 0.0
    assert length_share(short, [1.0] * 4, long, [1.0] * 4) == 0.0


def test_prompts_come_from_sft_lines_and_ranking_lines_each_once(tmp_path):
    question = [{"role": "user", "content": "Why?"}]
    answer = [{"role": "assistant", "content": "Because."}]
    rows = [
        {"messages": question + answer},
        {"prompt": question, "completions": [answer, answer], "ranking": [[0], [1]]},
        {"prompt": [{"role": "user", "content": "How?"}], "chosen": answer, "rejected": answer},
    ]
    path = jsonl_write(tmp_path / "rows.jsonl", rows)

    assert prompts_read(path) == [question, [{"role": "user", "content": "How?"}]]


def test_an_rl_run_without_a_reward_model_is_refused(tmp_path):
    path = jsonl_write(tmp_path / "sft.jsonl", [{"messages": prompts(1, seed=1)[0]}])
    with pytest.raises(ValueError, match="reward model"):
        build(RLConfig(output_dir=str(tmp_path / "rl")), TrainingData(path))
    with pytest.raises(ValueError, match="samples_per_prompt"):
        RLConfig(output_dir=str(tmp_path), samples_per_prompt=1)


def test_the_command_line_trains_a_policy_from_a_snapshot_and_a_reward_model(
    tmp_path, planted, capsys
):
    from trainer.ml.rl import main

    sft, reward = planted
    snapshot = jsonl_write(tmp_path / "sft.jsonl", [{"messages": p} for p in prompts(8, seed=3)])
    argv = ["--train", str(snapshot), "--reward-model", str(reward)]
    argv += ["--output-dir", str(tmp_path / "rl"), "--base-model", str(sft)]
    argv += ["--set", "max_steps=2", "--set", "batch_size=4", "--set", "max_new_tokens=8"]

    assert main(argv) == 0

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1] == {"type": "done", "model_dir": str(tmp_path / "rl" / "model")}
    assert "train_reward" in next(e for e in events if e["type"] == "eval")["metrics"]


def test_two_gloo_processes_train_a_policy_each_on_its_share_of_the_prompts(tmp_path, planted):
    """Each process samples its own prompts' replies (seeded apart from the other's), so
    the weights are not one process's; what must hold is that the run trains through
    DDP with the frozen reference inside the trained module, and saves one policy."""
    sft, reward = planted
    data = jsonl_write(tmp_path / "sft.jsonl", [{"messages": p} for p in prompts(16, seed=3)])
    extra = ("--base-model", str(sft), "--reward-model", str(reward))
    extra += ("--set", "max_new_tokens=8", "--set", "eval_prompts=4")

    events = run_trainer("rl", data, tmp_path / "two", processes=2, extra=extra)

    progress = [e["metrics"] for e in events if e["type"] == "progress"]
    # Both processes' replies are counted: 8 prompts of 4 replies a step, 2 steps a record.
    assert [p["samples"] for p in progress] == [64, 64, 64]
    assert events[-1]["type"] == "done"
    trained = weights(tmp_path / "two")
    started = load_file(str(sft / "model.safetensors"))
    assert any(not torch.equal(trained[name], started[name]) for name in started)


def test_the_reply_log_probabilities_are_the_models_own_at_the_sampling_temperature(
    tmp_path, planted
):
    sft, reward = planted
    method = RL(rl_config(tmp_path, sft, temperature=0.5), prompts(4, seed=5), RewardScorer(reward))
    samples = method._sampled(
        [(0, m, ids) for m, ids in zip(method.messages, method.prompts, strict=True)], policy=True
    )
    ids, mask, rows, cols = method._tensors(samples)

    logp, ref_logp, entropy = method.module(ids, mask, rows, cols)

    with torch.no_grad():
        logits = method.model(input_ids=ids, attention_mask=mask).logits / 0.5
    expected = torch.log_softmax(logits, dim=-1)[rows, cols, ids[rows, cols + 1]]
    torch.testing.assert_close(logp.detach(), expected, rtol=1e-4, atol=1e-5)
    # Before any step the policy is its frozen reference.
    torch.testing.assert_close(ref_logp, expected, rtol=1e-4, atol=1e-5)
    assert len(logp) == sum(samples.lengths) and bool((entropy > 0).all())
