"""RL against a reward model with a KL penalty: the third stage of the pipeline.

    python -m trainer.ml.rl --train sft-train.jsonl --reward-model runs/rm-1/model \\
        --output-dir runs/rl-1 --base-model runs/sft-1/model [--set kl_coef=0.05]

Each step takes a batch of prompts and samples `samples_per_prompt` (K) replies to each
from the current policy. A reply's return is the reward model's score minus `kl_coef`
times its KL to the reference (the starting model), summed over its tokens with the
estimate log p(token) - log p_ref(token) at the sampled tokens. The policy then takes one
REINFORCE step with the RLOO baseline: a reply's advantage is its return minus the mean
return of the other K - 1 replies to the same prompt.

Why RLOO and not PPO: PPO needs a value model as large as the policy to learn a baseline,
which doubles the memory and the compute of every step and is itself a model to train
(badly, at first, on a small model and a few hundred steps). The other replies to the
same prompt are a baseline that costs nothing and is unbiased, as none of them depends on
the reply it is the baseline of. With one gradient step per batch the samples are the
current policy's own, so no importance ratio or clipping is needed.

The reference is the base with its adapters turned off in a LoRA run (no second copy of
the weights), else a frozen copy of the starting model, kept inside the trained module so
it moves to the run's device with it and is left out of checkpoints as frozen weights.

Sampling is seeded by the run's seed and the prompts (with their epoch) sampled together, on
a forked random state:
a resumed run samples what the run it continues would have, and the loop's own random
state (dropout) is untouched."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from trainer.ml.batching import right_padded
from trainer.ml.chat import Message, conversation_encode, reply_text
from trainer.ml.cli import run_from_command_line
from trainer.ml.data import jsonl_read
from trainer.ml.generate import prompt_seed
from trainer.ml.loop import Processes, TrainConfig
from trainer.ml.lora import Adapted, trained_save
from trainer.ml.methods import TrainingData
from trainer.ml.modeling import attends_only_backwards
from trainer.ml.reward import RewardScorer
from trainer.ml.sft import generative_model_load

# Seeds evaluation's samples apart from any training step's.
EVAL_EPOCH = -1
# Prompts sampled together: each generated token is one forward pass over all their
# replies, which costs a small model little more than one reply's.
GENERATE_ROWS = 16


@dataclass
class RLConfig(TrainConfig):
    # The usual strength in RLHF work (InstructGPT used 0.02, TRL's RLOO 0.05): the reward
    # rises while replies stay recognisably the starting model's.
    kl_coef: float = 0.05
    # K replies per prompt: each one's baseline is the mean of the other K - 1, and 4 is
    # the smallest K whose baseline is not the noise of one other sample.
    samples_per_prompt: int = 4
    # A reply of a few sentences; longer ones cost sampling time at every step.
    max_new_tokens: int = 64
    # The replies are sampled at this temperature, and the log-probabilities the update
    # and the KL use are of the same tempered distribution (ReplyLogProbs divides the
    # logits by it), so the gradient is exact for that distribution: what is optimized is
    # the model sampled at this temperature. 1: the model's own distribution.
    temperature: float = 1.0
    # Held-out prompts sampled at each evaluation (their K replies each): enough for a mean
    # reward to move visibly, cheap next to the steps between evaluations.
    eval_prompts: int = 16

    def __post_init__(self) -> None:
        if self.samples_per_prompt < 2:
            raise ValueError("samples_per_prompt is at least 2: RLOO's baseline is the others.")
        if not self.temperature > 0:
            raise ValueError("temperature is above 0: the policy samples its replies.")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens is at least 1.")


CONFIG = RLConfig


def prompts_read(path: str | Path) -> list[list[Message]]:
    """The prompts of a snapshot, each once: an SFT line's conversation before its last
    assistant reply, a ranking's or preference pair's `prompt`."""
    prompts, seen = [], set()
    for row in jsonl_read(path):
        if "prompt" in row:
            prompt = row["prompt"]
        elif "messages" in row:
            messages = row["messages"]
            last = max(
                (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None
            )
            prompt = messages if last is None else messages[:last]
        else:
            raise ValueError(f"{path}: a line holds a 'prompt' or 'messages'")
        key = json.dumps(prompt, sort_keys=True)
        if prompt and key not in seen:
            seen.add(key)
            prompts.append(prompt)
    return prompts


class ReplyLogProbs(nn.Module):
    """Per-token log-probabilities of the sampled reply tokens of a right-padded batch
    under the policy (with gradient) and the reference (without), and the policy's
    entropy at each of those positions."""

    def __init__(
        self,
        model: PreTrainedModel,
        reference: PreTrainedModel | None,
        adapted: Adapted | None,
        *,
        causal: bool,
        temperature: float,
    ):
        super().__init__()
        self.model = model
        # The distribution replies are sampled from is the policy's at this temperature,
        # and the gradient and the KL are of that distribution.
        self.temperature = temperature
        # A submodule, so the loop moves it with the policy; frozen, so it is neither
        # trained nor written into checkpoints.
        self.reference = reference
        self.adapted = adapted
        self.causal = causal

    def train(self, mode: bool = True) -> ReplyLogProbs:
        super().train(mode)
        if self.reference is not None:
            self.reference.eval()
        return self

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        targets = ids[rows, cols + 1]  # (N,)
        logits = self._logits(self.model, ids, mask, rows, cols)  # (N, V)
        all_logp = F.log_softmax(logits, dim=-1)
        logp = all_logp.gather(1, targets[:, None])[:, 0]  # (N,)
        with torch.no_grad():
            entropy = -(all_logp.exp() * all_logp).sum(dim=-1)  # (N,)
            with self.reference_weights() as reference:
                ref_logits = self._logits(reference, ids, mask, rows, cols)
            ref_logp = F.log_softmax(ref_logits, dim=-1).gather(1, targets[:, None])[:, 0]
        return logp, ref_logp, entropy

    @contextmanager
    def reference_weights(self) -> Iterator[PreTrainedModel]:
        """The reference model: the frozen copy, or the policy with its adapters off."""
        if self.reference is not None:
            yield self.reference
        elif self.adapted is not None:
            with self.adapted.peft.disable_adapter():
                yield self.model
        else:
            raise RuntimeError("No reference: neither a frozen copy nor adapters to turn off.")

    def _logits(self, model, ids, mask, rows, cols) -> torch.Tensor:
        # The output layer only at the reply's positions, as SFT's loss does.
        body = getattr(model, model.base_model_prefix)
        hidden = body(input_ids=ids, attention_mask=None if self.causal else mask)[0]  # (B, T, H)
        logits = model.get_output_embeddings()(hidden[rows, cols]).float()  # (N, V)
        return logits / self.temperature


@dataclass
class Samples:
    """K replies to each of some prompts, scored: row i * K + j is prompt i's j-th reply."""

    prompt_ids: list[list[int]]  # one per reply
    reply_ids: list[list[int]]
    scores: torch.Tensor  # (R,) the reward model's, before the KL penalty

    @property
    def lengths(self) -> list[int]:
        return [len(r) for r in self.reply_ids]


class RL:
    def __init__(
        self,
        config: RLConfig,
        prompts: list[list[Message]],
        scorer: RewardScorer,
        held_out: list[list[Message]] | None = None,
    ):
        if not prompts:
            raise ValueError("No prompt to sample replies to.")
        self.config = config
        self.scorer = scorer
        self.tokenizer, self.model, self.adapted = generative_model_load(config, prompts)
        reference = None
        if self.adapted is None:
            reference = copy.deepcopy(self.model).requires_grad_(False).eval()
        self.module = ReplyLogProbs(
            self.model,
            reference,
            self.adapted,
            causal=attends_only_backwards(self.model),
            temperature=config.temperature,
        )
        # Room for the reply within max_length: a long prompt loses its beginning.
        self.prompt_room = max(8, config.max_length - config.max_new_tokens)
        self.prompts = [self._prompt_ids(p) for p in prompts]
        self.messages = prompts
        self.held_out = (held_out or prompts)[: config.eval_prompts]
        self.split = "validation" if held_out else "train"
        self.reference_samples: Samples | None = None

    # The loop sums these per record; the record reports each as a mean per its divisor.
    averaged = {
        "reward": "samples",
        "kl": "samples",
        "reply_length": "samples",
        "entropy": "reply_tokens",
    }

    def _prompt_ids(self, prompt: list[Message]) -> list[int]:
        ids = conversation_encode(self.tokenizer, prompt, generation_prompt=True)[0]
        return ids[-self.prompt_room :]

    def epoch_plan(self, epoch: int, rng: random.Random) -> list[list[int]]:
        """Prompts in batches; an index holds its epoch (epoch * prompts + prompt), which
        seeds its samples, so each epoch samples anew and a resume samples the same."""
        order = list(range(len(self.prompts)))
        rng.shuffle(order)
        offset = epoch * len(self.prompts)
        size = self.config.batch_size
        return [[offset + i for i in order[s : s + size]] for s in range(0, len(order), size)]

    def units(self, batch: list[int]) -> int:
        return len(batch) * self.config.samples_per_prompt

    def loss_sum(self, module: nn.Module, shard: list[int]) -> tuple[torch.Tensor, dict]:
        count = len(self.prompts)
        picked = [(i // count, i % count) for i in shard]
        samples = self._sampled(
            [(epoch, self.messages[i], self.prompts[i]) for epoch, i in picked], policy=True
        )
        ids, mask, rows, cols = self._tensors(samples)
        logp, ref_logp, entropy = module(ids, mask, rows, cols)  # (N,) each
        replies = len(samples.reply_ids)
        kl = torch.zeros(replies, device=logp.device).index_add_(
            0, rows, (logp - ref_logp).detach()
        )  # (R,)
        returns = samples.scores.to(logp.device) - self.config.kl_coef * kl  # (R,)
        advantage = leave_one_out(returns, self.config.samples_per_prompt)  # (R,)
        loss = -(advantage[rows] * logp).sum()
        stats = {
            "samples": replies,
            "reward": float(samples.scores.sum()),
            "kl": float(kl.sum()),
            "reply_length": float(sum(samples.lengths)),
            "reply_tokens": float(len(rows)),
            "entropy": float(entropy.sum()),
        }
        return loss, stats

    def _tensors(self, samples: Samples):
        """The sequences (prompt and reply), and for each reply token the row and the
        column that predicts it."""
        device = next(self.model.parameters()).device
        sequences = [p + r for p, r in zip(samples.prompt_ids, samples.reply_ids, strict=True)]
        ids = right_padded(sequences, self.tokenizer.pad_token_id, device)
        mask = right_padded([[1] * len(s) for s in sequences], 0, device)
        rows, cols = [], []
        for row, (prompt, reply) in enumerate(
            zip(samples.prompt_ids, samples.reply_ids, strict=True)
        ):
            rows += [row] * len(reply)
            cols += range(len(prompt) - 1, len(prompt) + len(reply) - 1)
        # A row is one reply: the row of a token is also the index of its reply.
        rows_t = torch.tensor(rows, dtype=torch.long, device=device)
        cols_t = torch.tensor(cols, dtype=torch.long, device=device)
        return ids, mask, rows_t, cols_t

    @torch.no_grad()
    def _sampled(
        self, prompts: list[tuple[int, list[Message], list[int]]], *, policy: bool
    ) -> Samples:
        """K replies to each (epoch, messages, ids) prompt from the policy or the reference,
        scored by the reward model."""
        k = self.config.samples_per_prompt
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        prompt_ids, reply_ids, texts = [], [], []
        with self.module.reference_weights() if not policy else nullcontext(self.model) as model:
            for start in range(0, len(prompts), GENERATE_ROWS):
                chunk = prompts[start : start + GENERATE_ROWS]
                seed = prompt_seed(self.config.seed, [[e, m] for e, m, _ in chunk])
                replies = self._generated(model, [ids for _, _, ids in chunk], seed, device)
                for index, reply in enumerate(replies):
                    _, messages, ids = chunk[index // k]
                    prompt_ids.append(ids)
                    reply_ids.append(reply)
                    text = reply_text(self.tokenizer, reply)
                    texts.append((messages, text))
        self.model.train(was_training)
        return Samples(prompt_ids, reply_ids, self._scores(texts))

    def _generated(self, model, prompts: list[list[int]], seed: int, device) -> list[list[int]]:
        """K replies to each prompt, prompt by prompt, in one batch: left-padded so that
        every prompt ends in the last column, where generation continues."""
        width = max(len(ids) for ids in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        forked = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(seed)
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=self.config.temperature,
                top_p=1.0,
                top_k=None,
                num_return_sequences=self.config.samples_per_prompt,
                max_new_tokens=self.config.max_new_tokens,
                eos_token_id=self.tokenizer.eos_token_id,
                pad_token_id=pad,
            )
        end = self.tokenizer.eos_token_id
        replies = []
        for row in out[:, width:].tolist():
            # Up to and with the end of turn: the model learns to stop as it learns to speak.
            replies.append(row[: row.index(end) + 1] if end in row else row)
        return replies

    def _scores(self, texts: list[tuple[list[Message], str]]) -> torch.Tensor:
        return self.scorer.scores(texts, next(self.model.parameters()).device)

    def finish(self, processes: Processes) -> None:
        pass

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Replies to the held-out prompts from the policy and from the reference, each
        seeded the same: the mean reward, KL, entropy and reply length of the policy's,
        its reward gain over the reference, and the share of that gain its length change
        explains (see `length_share`)."""
        held = [(EVAL_EPOCH, m, self._prompt_ids(m)) for m in self.held_out]
        if self.reference_samples is None:
            self.reference_samples = self._sampled(held, policy=False)
        samples = self._sampled(held, policy=True)
        self.module.eval()
        ids, mask, rows, cols = self._tensors(samples)
        logp, ref_logp, entropy = self.module(ids, mask, rows, cols)
        self.module.train()
        kl = torch.zeros(len(samples.reply_ids), device=logp.device).index_add_(
            0, rows, logp - ref_logp
        )
        reference = self.reference_samples
        split = self.split
        return {
            f"{split}_reward": float(samples.scores.mean()),
            f"{split}_kl": float(kl.mean()),
            f"{split}_entropy": float(entropy.mean()) if len(entropy) else 0.0,
            f"{split}_reply_length": float(sum(samples.lengths) / len(samples.lengths)),
            f"{split}_reward_gain": float(samples.scores.mean() - reference.scores.mean()),
            f"{split}_length_share": length_share(
                reference.lengths,
                reference.scores.tolist(),
                samples.lengths,
                samples.scores.tolist(),
            ),
        }

    def save(self, folder: Path) -> None:
        trained_save(self.model, self.adapted, self.tokenizer, folder)


def leave_one_out(returns: torch.Tensor, k: int) -> torch.Tensor:
    """Each return minus the mean of the other K - 1 in its group of K."""
    grouped = returns.view(-1, k)  # (P, K)
    others = (grouped.sum(dim=1, keepdim=True) - grouped) / (k - 1)
    return (grouped - others).reshape(-1)


def length_share(
    before_lengths: list[int],
    before_rewards: list[float],
    after_lengths: list[int],
    after_rewards: list[float],
) -> float:
    """The share of the reward gain (after minus before) that the change in reply length
    predicts: reward is regressed on length over both sets of replies, and the slope times
    the change in mean length is divided by the gain. Near 1: the policy mostly learned to
    write longer (or shorter) replies the reward model happens to favour, the first sign of
    reward hacking; near 0: the gain came from what the replies say. 0 without a gain."""
    lengths = torch.tensor(before_lengths + after_lengths, dtype=torch.float64)
    rewards = torch.tensor(before_rewards + after_rewards, dtype=torch.float64)
    gain = float(torch.tensor(after_rewards).mean() - torch.tensor(before_rewards).mean())
    spread = float(((lengths - lengths.mean()) ** 2).sum())
    if abs(gain) < 1e-6 or spread == 0.0:
        return 0.0
    slope = float(((lengths - lengths.mean()) * (rewards - rewards.mean())).sum()) / spread
    change = sum(after_lengths) / len(after_lengths) - sum(before_lengths) / len(before_lengths)
    return slope * change / gain


def build(config: RLConfig, data: TrainingData) -> RL:
    if data.reward_model is None:
        raise ValueError("An RL run needs a reward model to score its samples.")
    held_out = prompts_read(data.validation) if data.validation else None
    return RL(config, prompts_read(data.train), RewardScorer(data.reward_model), held_out)


def main(argv: list[str] | None = None) -> int:
    return run_from_command_line("rl", argv)


if __name__ == "__main__":
    raise SystemExit(main())
