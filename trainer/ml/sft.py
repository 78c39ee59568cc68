"""Supervised fine-tuning on demonstrations: next-token loss on the assistant's tokens only.

    python -m trainer.ml.sft --train sft-train.jsonl --validation sft-validation.jsonl \\
        --output-dir runs/sft-1 [--base-model DIR] [--set lr=3e-4 --set max_steps=200]

Batches are bucketed by length (see `trainer.ml.batching.length_buckets`) so little
compute goes to padding, and the vocabulary projection runs only at the positions that are
trained on: prompts and padding cost the transformer body, never the output layer."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from trainer.ml.batching import length_buckets, trained_token_batch
from trainer.ml.chat import Message, conversation_encode, conversation_texts
from trainer.ml.cli import run_from_command_line
from trainer.ml.data import conversations_read
from trainer.ml.loop import Processes, TrainConfig
from trainer.ml.lora import Adapted, lora_applied, trained_save
from trainer.ml.methods import TrainingData
from trainer.ml.modeling import (
    attends_only_backwards,
    causal_lm_load,
    run_tokenizer,
)


@dataclass
class SFTConfig(TrainConfig):
    """SFT trains with the loop's settings alone so far; a setting only SFT needs (say,
    packing) goes here, its default's reason beside it."""


CONFIG = SFTConfig


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    trained: list[bool]

    @property
    def targets(self) -> int:
        """Trained tokens, each predicted from the position before it."""
        return sum(self.trained[1:])


def encode_all(
    tokenizer: PreTrainedTokenizerBase, conversations: list[list[Message]], max_length: int
) -> list[Encoded]:
    """Conversations cut to max_length; one left with nothing to train on is dropped."""
    encoded = []
    for messages in conversations:
        ids, trained = conversation_encode(tokenizer, messages)
        item = Encoded(ids[:max_length], trained[:max_length])
        if item.targets:
            encoded.append(item)
    return encoded


class AssistantTokenLoss(nn.Module):
    """Summed cross-entropy of the trained tokens of a right-padded batch."""

    def __init__(self, model: PreTrainedModel, *, causal: bool):
        super().__init__()
        self.model = model
        # See attends_only_backwards: a causal model needs no mask for right padding.
        self.causal = causal

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        logits = trained_logits(self.model, ids, None if self.causal else mask, rows, cols)
        return F.cross_entropy(logits, ids[rows, cols + 1], reduction="sum")


def trained_logits(
    model: PreTrainedModel,
    ids: torch.Tensor,
    mask: torch.Tensor | None,
    rows: torch.Tensor,
    cols: torch.Tensor,
) -> torch.Tensor:
    """The output layer's logits at the (rows, cols) positions of a padded batch alone."""
    body = getattr(model, model.base_model_prefix)
    hidden = body(input_ids=ids, attention_mask=mask)[0]  # (B, T, H)
    picked = hidden[rows, cols]  # (N, H): positions whose next token is trained on
    return model.get_output_embeddings()(picked).float()  # (N, V)


def generative_model_load(
    config: TrainConfig, conversations: list[list[Message]]
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, Adapted | None]:
    """A run's tokenizer and its model to train, with LoRA adapters when the config asks
    for them: what every method that trains a generative model starts from."""
    tokenizer = run_tokenizer(
        config.output_dir, config.base_model, conversation_texts(conversations)
    )
    torch.manual_seed(config.seed)
    model = causal_lm_load(config.base_model, tokenizer, max_length=config.max_length)
    return tokenizer, model, lora_applied(model, config, tokenizer)


class SFT:
    def __init__(
        self,
        config: SFTConfig,
        train: list[list[Message]],
        validation: list[list[Message]] | None = None,
    ):
        self.config = config
        self.tokenizer, self.model, self.adapted = generative_model_load(config, train)
        self.module = AssistantTokenLoss(self.model, causal=attends_only_backwards(self.model))
        self.train_set = encode_all(self.tokenizer, train, config.max_length)
        self.validation_set = encode_all(self.tokenizer, validation or [], config.max_length)
        if not self.train_set:
            raise ValueError("No conversation with an assistant reply to train on.")

    def epoch_plan(self, epoch: int, rng: random.Random) -> list[list[int]]:
        lengths = [len(item.ids) for item in self.train_set]
        return length_buckets(lengths, self.config.batch_size, rng)

    def units(self, batch: list[int]) -> int:
        return sum(self.train_set[i].targets for i in batch)

    def loss_sum(self, module: nn.Module, shard: list[int]) -> tuple[torch.Tensor, dict]:
        items = [self.train_set[i] for i in shard]
        loss = module(*self._tensors(items))
        return loss, {"tokens": sum(len(item.ids) for item in items)}

    def _tensors(self, items: list[Encoded]):
        device = next(self.model.parameters()).device
        sequences = [(item.ids, item.trained) for item in items]
        return trained_token_batch(sequences, self.tokenizer.pad_token_id, device)

    def finish(self, processes: Processes) -> None:
        pass

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        items = self.validation_set or self.train_set
        self.module.eval()
        total, count = 0.0, 0
        for start in range(0, len(items), self.config.batch_size):
            chunk = items[start : start + self.config.batch_size]
            total += float(self.module(*self._tensors(chunk)))
            count += sum(item.targets for item in chunk)
        self.module.train()
        loss = total / count
        split = "validation" if self.validation_set else "train"
        return {f"{split}_loss": loss, f"{split}_perplexity": math.exp(min(loss, 50.0))}

    def save(self, folder: Path) -> None:
        trained_save(self.model, self.adapted, self.tokenizer, folder)


def build(config: SFTConfig, data: TrainingData) -> SFT:
    validation = conversations_read(data.validation) if data.validation else None
    return SFT(config, conversations_read(data.train), validation)


def main(argv: list[str] | None = None) -> int:
    return run_from_command_line("sft", argv)


if __name__ == "__main__":
    raise SystemExit(main())
