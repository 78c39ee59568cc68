"""Reward-model training on K-wise rankings with the InstructGPT loss.

    python -m trainer.ml.reward --train rankings-train.jsonl \\
        --validation rankings-validation.jsonl --output-dir runs/rm-1 \\
        [--base-model DIR] [--demonstrations sft-train.jsonl]

For a prompt with K ranked completions the loss is the mean over its ranked pairs of
-log sigmoid(r(better) - r(worse)), and the K completions are forwarded once each: the
C(K, 2) pairs then cost K forward passes, where a trainer that takes pairs spends 2 per
pair. Tied completions make no pair. A group is one batch element, so its pairs never
meet in different steps (what InstructGPT found overfits less).

After training the scores are shifted so that approved demonstrations score 0 on
average: a score then reads as better or worse than what people write."""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from trainer.ml.chat import Message, conversation_encode, conversation_texts
from trainer.ml.cli import run_from_command_line
from trainer.ml.data import RankedGroup, conversations_read, groups_read
from trainer.ml.loop import TrainConfig
from trainer.ml.modeling import (
    attends_only_backwards,
    model_save,
    reward_model_load,
    tokenizer_load_or_train,
)
from trainer.ml.sft import length_buckets, right_padded

# Stored in the saved config: models whose score layer has no bias (Llama's) keep the
# shift here, and RewardScorer adds it.
BIAS_KEY = "reward_bias"


@dataclass(frozen=True)
class EncodedGroup:
    sequences: list[list[int]]  # one per completion: prompt and completion, rendered
    pairs: list[tuple[int, int]]  # (better, worse) indices into sequences


class ScalarRewards(nn.Module):
    """One score per right-padded row, read at its last real token (decoders) or as the
    model's own pooled output (encoders)."""

    def __init__(self, model: PreTrainedModel, *, causal: bool):
        super().__init__()
        self.model = model
        self.causal = causal

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids, attention_mask=None if self.causal else mask)
        return out.logits[:, 0].float()  # (N,)


def sequences_encode(tokenizer, prompt: list[Message], completion: list[Message], limit: int):
    ids, _ = conversation_encode(tokenizer, [*prompt, *completion])
    # The score is read at the end, so a long prompt loses its beginning, not the reply.
    return ids[-limit:]


class Reward:
    def __init__(
        self,
        config: TrainConfig,
        train: list[RankedGroup],
        validation: list[RankedGroup] | None = None,
        demonstrations: list[list[Message]] | None = None,
    ):
        self.config = config
        texts = conversation_texts(
            [g.prompt + [m for c in g.completions for m in c] for g in train]
        )
        saved_tokenizer = Path(config.output_dir) / "tokenizer"
        source = str(saved_tokenizer) if saved_tokenizer.exists() else config.base_model
        self.tokenizer = tokenizer_load_or_train(source, texts)
        self.tokenizer.save_pretrained(saved_tokenizer)
        torch.manual_seed(config.seed)
        self.model = reward_model_load(
            config.base_model, self.tokenizer, max_length=config.max_length
        )
        self.module = ScalarRewards(self.model, causal=attends_only_backwards(self.model))
        self.train_set = [self._encode(g) for g in train]
        self.validation_set = [self._encode(g) for g in validation or []]
        # Without demonstrations, the best-ranked replies stand in for them.
        self.demonstrations = demonstrations or [
            g.prompt + g.completions[g.ranking[0][0]] for g in train
        ]
        if not self.train_set:
            raise ValueError("No ranking with two completions in different places.")

    def _encode(self, group: RankedGroup) -> EncodedGroup:
        limit = self.config.max_length
        sequences = [
            sequences_encode(self.tokenizer, group.prompt, c, limit) for c in group.completions
        ]
        return EncodedGroup(sequences, group.pairs())

    def epoch_plan(self, epoch: int, rng: random.Random) -> list[list[int]]:
        longest = [max(len(s) for s in g.sequences) for g in self.train_set]
        return length_buckets(longest, self.config.batch_size, rng)

    def units(self, batch: list[int]) -> int:
        return len(batch)

    def loss_sum(self, module: nn.Module, shard: list[int]) -> tuple[torch.Tensor, dict]:
        groups = [self.train_set[i] for i in shard]
        scores = module(*self._batch([s for g in groups for s in g.sequences]))  # (N,)
        better, worse, weight = self._pairs(groups, scores.device)
        losses = -F.logsigmoid(scores[better] - scores[worse])  # (P,)
        stats = {
            "pairs": len(better),
            "sequences": len(scores),
            "tokens": sum(len(s) for g in groups for s in g.sequences),
        }
        return (losses * weight).sum(), stats

    def _batch(self, sequences: list[list[int]]):
        device = next(self.model.parameters()).device
        ids = right_padded(sequences, self.tokenizer.pad_token_id, device)
        mask = right_padded([[1] * len(s) for s in sequences], 0, device)
        return ids, mask

    @staticmethod
    def _pairs(groups: list[EncodedGroup], device: torch.device):
        better, worse, weight = [], [], []
        offset = 0
        for group in groups:
            for a, b in group.pairs:
                better.append(offset + a)
                worse.append(offset + b)
                # Each group weighs the same whatever its K: its loss is a mean over pairs.
                weight.append(1.0 / len(group.pairs))
            offset += len(group.sequences)
        return (
            torch.tensor(better, device=device),
            torch.tensor(worse, device=device),
            torch.tensor(weight, device=device),
        )

    @torch.no_grad()
    def scores(self, sequences: list[list[int]]) -> torch.Tensor:
        self.module.eval()
        chunk = self.config.batch_size * 4
        found = [
            self.module(*self._batch(sequences[i : i + chunk]))
            for i in range(0, len(sequences), chunk)
        ]
        self.module.train()
        return torch.cat(found) + float(getattr(self.model.config, BIAS_KEY, 0.0))

    def finish(self) -> None:
        """Shift scores so approved demonstrations average 0."""
        limit = self.config.max_length
        sequences = [
            conversation_encode(self.tokenizer, conversation)[0][-limit:]
            for conversation in self.demonstrations
        ]
        setattr(self.model.config, BIAS_KEY, 0.0)
        setattr(self.model.config, BIAS_KEY, -float(self.scores(sequences).mean()))

    def evaluate(self) -> dict[str, float]:
        groups = self.validation_set or self.train_set
        scores = self.scores([s for g in groups for s in g.sequences]).cpu()
        better, worse, weight = self._pairs(groups, scores.device)
        margin = scores[better] - scores[worse]
        split = "validation" if self.validation_set else "train"
        return {
            f"{split}_accuracy": float((margin > 0).float().mean()),
            f"{split}_loss": float((-F.logsigmoid(margin) * weight).sum() / len(groups)),
            f"{split}_pairs": len(better),
            "reward_mean": float(scores.mean()),
            "reward_std": float(scores.std()) if len(scores) > 1 else 0.0,
        }

    def save(self, folder: Path) -> None:
        model_save(self.model, self.tokenizer, folder)


class RewardScorer:
    """Scores replies with a saved reward model, the demonstration shift included."""

    def __init__(self, folder: str | Path, *, max_length: int = 1024):
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        self.bias = float(getattr(self.model.config, BIAS_KEY, 0.0))
        self.max_length = max_length

    @torch.no_grad()
    def score(self, prompt: list[Message], reply: str) -> float:
        completion = [{"role": "assistant", "content": reply}]
        ids = sequences_encode(self.tokenizer, prompt, completion, self.max_length)
        out = self.model(input_ids=torch.tensor([ids]))
        return float(out.logits[0, 0]) + self.bias


def main(argv: list[str] | None = None) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--demonstrations", help="SFT snapshot file of approved replies")
    known, rest = extra.parse_known_args(argv)
    demonstrations = conversations_read(known.demonstrations) if known.demonstrations else None
    return run_from_command_line(
        "reward",
        rest,
        build=lambda config, train, validation: Reward(
            config,
            groups_read(train),
            groups_read(validation) if validation else [],
            demonstrations,
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
