"""Direct Preference Optimization (Rafailov et al., 2023) on preference pairs or K-wise
rankings: the policy learns to raise its log-probability of the better reply relative to
a frozen reference, with no reward model and no sampling.

    python -m trainer.ml.dpo --train rankings-train.jsonl \\
        --validation rankings-validation.jsonl --output-dir runs/dpo-1 \\
        --base-model runs/sft-1/model [--set beta=0.1 --set lr=5e-6]

The reference is the starting model itself. Its log-probabilities of every reply are
computed once, before the first step, and cached in the output directory: the run then
holds one model, and a resumed run reads them back rather than computing them again.

A K-wise ranking is one batch element, as for the reward model (trainer.ml.reward): its K
replies are forwarded once each, and its loss is the mean over its ranked pairs, so a
group weighs the same whatever its K."""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from trainer.ml.batching import length_buckets, pair_indices, trained_token_batch
from trainer.ml.chat import conversation_encode, conversation_texts
from trainer.ml.cli import run_from_command_line
from trainer.ml.data import RankedGroup, groups_read
from trainer.ml.loop import Processes, TrainConfig, autocast_for
from trainer.ml.lora import lora_applied, trained_save
from trainer.ml.methods import TrainingData
from trainer.ml.modeling import attends_only_backwards, causal_lm_load, run_tokenizer
from trainer.ml.sft import trained_logits

# In the output directory: the reference's log-probabilities, with the fingerprint of the
# sequences they belong to.
REFERENCE_FILE = "reference_logps.json"
# Reply tokens whose distributions over the vocabulary one pass of `reply_kl` holds: a few
# (tokens x vocabulary) float tensors, some 300 MB each at 150,000 words.
KL_TOKENS = 512
# Chosen replies the KL is measured on at an evaluation.
KL_REPLIES = 256


@dataclass
class DPOConfig(TrainConfig):
    # How far the policy may move from the reference: the implicit reward is
    # beta * log(pi / pi_ref). 0.1 is the paper's and TRL's default; lower lets it drift
    # further for the same preference.
    beta: float = 0.1
    # The share of pairs taken to be mislabelled (conservative DPO): 0 trusts every pair,
    # a little (0.1) keeps the loss from pushing margins up without end on noisy labels.
    label_smoothing: float = 0.0


CONFIG = DPOConfig


@dataclass(frozen=True)
class Sequence:
    ids: list[int]
    trained: list[bool]  # the reply's tokens (and the turn end that closes it)


@dataclass(frozen=True)
class EncodedGroup:
    sequences: list[Sequence]  # one per completion: prompt and completion, rendered
    pairs: list[tuple[int, int]]  # (better, worse) indices into sequences


def group_encode(tokenizer, group: RankedGroup, limit: int) -> EncodedGroup:
    """Each reply after its prompt, cut to `limit` from the left: a long prompt loses its
    beginning, never the reply being judged."""
    sequences = []
    for completion in group.completions:
        ids, trained = conversation_encode(tokenizer, [*group.prompt, *completion])
        sequences.append(Sequence(ids[-limit:], trained[-limit:]))
    return EncodedGroup(sequences, group.pairs())


class SequenceLogProbs(nn.Module):
    """Each right-padded row's summed log-probability of its trained tokens. The vocabulary
    projection runs only where a trained token is predicted, as in SFT."""

    def __init__(self, model: PreTrainedModel, *, causal: bool):
        super().__init__()
        self.model = model
        # A causal model needs no mask for right padding (see attends_only_backwards).
        self.causal = causal

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        logits = trained_logits(self.model, ids, None if self.causal else mask, rows, cols)
        picked = -F.cross_entropy(logits, ids[rows, cols + 1], reduction="none")  # (N,)
        sums = torch.zeros(ids.shape[0], device=ids.device, dtype=picked.dtype)
        return sums.index_add(0, rows, picked)  # (B,)


def dpo_losses(
    policy: torch.Tensor, reference: torch.Tensor, better, worse, *, beta: float, smoothing: float
) -> torch.Tensor:
    """Per pair: -log sigmoid of beta times how much more the policy raised the better
    reply over the reference than the worse one; with label smoothing, the pair counts
    that share of the time the other way round."""
    ratios = policy - reference  # (N,): log pi/pi_ref of each sequence
    logits = beta * (ratios[better] - ratios[worse])  # (P,)
    return -(1 - smoothing) * F.logsigmoid(logits) - smoothing * F.logsigmoid(-logits)


class DPO:
    def __init__(
        self,
        config: DPOConfig,
        train: list[RankedGroup],
        validation: list[RankedGroup] | None = None,
        processes: Processes | None = None,
    ):
        self.config = config
        texts = conversation_texts(
            [g.prompt + [m for c in g.completions for m in c] for g in train]
        )
        self.tokenizer = run_tokenizer(config.output_dir, config.base_model, texts)
        torch.manual_seed(config.seed)
        self.model = causal_lm_load(config.base_model, self.tokenizer, max_length=config.max_length)
        self.adapted = lora_applied(self.model, config, self.tokenizer)
        self.module = SequenceLogProbs(self.model, causal=attends_only_backwards(self.model))
        self.train_set = self._encode_all(train)
        self.validation_set = self._encode_all(validation or [])
        if not self.train_set:
            raise ValueError("No ranking with two completions in different places.")
        processes = processes or Processes.from_env()
        # On the device now: the reference pass below runs there, and the loop's own move
        # is then a no-op.
        self.model.to(processes.device())
        self.reference_cached = False
        self.reference = self._reference(processes)

    def _encode_all(self, groups: list[RankedGroup]) -> list[EncodedGroup]:
        """The groups encoded; one whose every pair lost a reply to the cut is dropped."""
        encoded = []
        for group in groups:
            found = group_encode(self.tokenizer, group, self.config.max_length)
            # A reply the cut left with nothing to judge would compare two empty sums.
            kept = {i for i, s in enumerate(found.sequences) if any(s.trained[1:])}
            pairs = [(a, b) for a, b in found.pairs if a in kept and b in kept]
            if pairs:
                encoded.append(EncodedGroup(found.sequences, pairs))
        return encoded

    def _all_sequences(self) -> list[Sequence]:
        return [s for g in self.train_set + self.validation_set for s in g.sequences]

    def _reference(self, processes: Processes) -> list[torch.Tensor]:
        """The starting model's log-probability of every sequence, train then validation
        (one tensor per group): read from the cache, or computed now, each process its
        share, and written there. The adapters of a LoRA run start at zero, so the model
        before its first step is the reference, LoRA or not."""
        sequences = self._all_sequences()
        fingerprint = _fingerprint(sequences, self.config)
        path = Path(self.config.output_dir) / REFERENCE_FILE
        values = _cached(path, fingerprint)
        device = next(self.model.parameters()).device
        if values is not None:
            self.reference_cached = True
        else:
            mine = range(processes.rank, len(sequences), processes.world)
            # At the training steps' precision: under bf16 a reference in float32 would
            # start the policy off its own reference at step 0.
            with autocast_for(self.config, device):
                found = self.log_probs([sequences[i] for i in mine]).tolist()
            shares = [0.0] * len(sequences)
            for index, value in zip(mine, found, strict=True):
                shares[index] = value
            # Each sequence is some process's alone: the sum puts them all together.
            values = processes.sum(shares)
            if processes.main:
                _cache_write(path, fingerprint, values)
        per_group, start = [], 0
        for group in self.train_set + self.validation_set:
            end = start + len(group.sequences)
            per_group.append(torch.tensor(values[start:end], device=device))
            start = end
        return per_group

    def epoch_plan(self, epoch: int, rng: random.Random) -> list[list[int]]:
        longest = [max(len(s.ids) for s in g.sequences) for g in self.train_set]
        return length_buckets(longest, self.config.batch_size, rng)

    def units(self, batch: list[int]) -> int:
        return len(batch)

    def loss_sum(self, module: nn.Module, shard: list[int]) -> tuple[torch.Tensor, dict]:
        groups = [self.train_set[i] for i in shard]
        sequences = [s for g in groups for s in g.sequences]
        policy = module(*self._tensors(sequences))  # (N,)
        reference = torch.cat([self.reference[i] for i in shard])  # (N,)
        better, worse, weight = pair_indices(groups, policy.device)
        losses = dpo_losses(
            policy,
            reference,
            better,
            worse,
            beta=self.config.beta,
            smoothing=self.config.label_smoothing,
        )
        stats = {
            "pairs": len(better),
            "sequences": len(sequences),
            "tokens": sum(len(s.ids) for s in sequences),
        }
        return (losses * weight).sum(), stats

    def _tensors(self, sequences: list[Sequence]):
        device = next(self.model.parameters()).device
        pairs = [(s.ids, s.trained) for s in sequences]
        return trained_token_batch(pairs, self.tokenizer.pad_token_id, device)

    @torch.no_grad()
    def log_probs(self, sequences: list[Sequence]) -> torch.Tensor:
        """The model's summed reply log-probability of each sequence, in the order given;
        chunks are cut from the sequences sorted by length, so each pads little."""
        device = next(self.model.parameters()).device
        if not sequences:
            return torch.zeros(0, device=device)
        was_training = self.module.training
        self.module.eval()
        chunk = self.config.batch_size * 4
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].ids))
        found = [
            self.module(*self._tensors([sequences[i] for i in order[start : start + chunk]]))
            for start in range(0, len(order), chunk)
        ]
        self.module.train(was_training)
        by_length = torch.cat(found)
        values = torch.empty_like(by_length)
        values[torch.tensor(order, device=device)] = by_length
        return values

    def finish(self, processes: Processes) -> None:
        pass

    def evaluate(self) -> dict[str, float]:
        held_out = bool(self.validation_set)
        groups = self.validation_set or self.train_set
        offset = len(self.train_set) if held_out else 0
        reference = torch.cat(self.reference[offset : offset + len(groups)]).cpu()
        policy = self.log_probs([s for g in groups for s in g.sequences]).cpu()
        better, worse, weight = pair_indices(groups, policy.device)
        config = self.config
        rewards = config.beta * (policy - reference)  # (N,): the implicit rewards
        margins = rewards[better] - rewards[worse]  # (P,)
        losses = dpo_losses(
            policy, reference, better, worse, beta=config.beta, smoothing=config.label_smoothing
        )
        chosen = sorted(set(better.tolist()))
        sequences = [s for g in groups for s in g.sequences]
        split = "validation" if held_out else "train"
        return {
            f"{split}_loss": float((losses * weight).sum() / len(groups)),
            f"{split}_accuracy": float((margins > 0).float().mean()),
            f"{split}_pairs": len(better),
            f"{split}_margin": float(margins.mean()),
            f"{split}_chosen_reward": float(rewards[better].mean()),
            f"{split}_rejected_reward": float(rewards[worse].mean()),
            # The first KL_REPLIES chosen replies: two more forward passes each, and a
            # train split read in full at every evaluation would cost more than the steps.
            f"{split}_kl": float(self.reply_kl([sequences[i] for i in chosen[:KL_REPLIES]]).mean()),
        }

    @torch.no_grad()
    def reply_kl(self, sequences: list[Sequence]) -> torch.Tensor:
        """Per sequence: KL(pi || pi_ref) between the policy's and the reference's next-token
        distributions, over the whole vocabulary, summed over the reply's tokens with the
        reply itself as the context (the units of RL's KL: nats per reply). Exact at each
        position, unlike log pi - log pi_ref at the data's tokens, which can be negative as
        the replies come from people, not from the policy."""
        device = next(self.model.parameters()).device
        found = torch.zeros(len(sequences), device=device)
        was_training = self.model.training
        self.model.eval()
        with self._reference_logits() as reference_logits:
            for start, end in _token_chunks(sequences, KL_TOKENS):
                ids, mask, rows, cols = self._tensors(sequences[start:end])
                mask = None if self.module.causal else mask
                policy = F.log_softmax(trained_logits(self.model, ids, mask, rows, cols), -1)
                base = F.log_softmax(reference_logits(ids, mask, rows, cols), -1)
                # sum over the vocabulary of pi * (log pi - log pi_ref), at each token
                per_token = F.kl_div(base, policy, log_target=True, reduction="none").sum(-1)
                found.index_add_(0, rows + start, per_token)
                del policy, base, per_token
        self.model.train(was_training)
        return found.cpu()

    @contextmanager
    def _reference_logits(self) -> Iterator[Callable[..., torch.Tensor]]:
        """`trained_logits` of the starting model: the policy with its adapters off in a
        LoRA run, else the base loaded again for this evaluation and let go after it, so
        that training holds one model."""
        if self.adapted is not None:
            peft = self.adapted.peft

            def adapters_off(*batch: torch.Tensor | None) -> torch.Tensor:
                with peft.disable_adapter():
                    return trained_logits(self.model, *batch)

            yield adapters_off
            return
        with torch.random.fork_rng(devices=[]):
            # The tiny default's weights are drawn from the seed, as when training began.
            torch.manual_seed(self.config.seed)
            reference = causal_lm_load(
                self.config.base_model, self.tokenizer, max_length=self.config.max_length
            )
        parameter = next(self.model.parameters())
        reference.to(device=parameter.device, dtype=parameter.dtype).eval()
        yield partial(trained_logits, reference)

    def save(self, folder: Path) -> None:
        trained_save(self.model, self.adapted, self.tokenizer, folder)


def _token_chunks(sequences: list[Sequence], budget: int) -> Iterator[tuple[int, int]]:
    """(start, end) runs of `sequences` whose trained tokens add up to at most `budget`,
    one sequence at least."""
    start, used = 0, 0
    for index, sequence in enumerate(sequences):
        tokens = sum(sequence.trained)
        if index > start and used + tokens > budget:
            yield start, index
            start, used = index, 0
        used += tokens
    if start < len(sequences):
        yield start, len(sequences)


def _fingerprint(sequences: list[Sequence], config: DPOConfig) -> str:
    """What the cached values belong to: the exact ids and trained tokens, the base (with
    the seed, which draws the tiny default model's weights) and the precision."""
    digest = hashlib.sha256(json.dumps([config.base_model, config.seed, config.bf16]).encode())
    for sequence in sequences:
        digest.update(json.dumps([sequence.ids, sequence.trained]).encode())
    return digest.hexdigest()


def _cached(path: Path, fingerprint: str) -> list[float] | None:
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    # Other data or another base in the same folder: computed again, never misread.
    return saved["values"] if saved.get("fingerprint") == fingerprint else None


def _cache_write(path: Path, fingerprint: str, values: list[float]) -> None:
    """Written under a temporary name and renamed: a crash mid-write leaves no cache that
    reads as complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}-{os.getpid()}")
    partial.write_text(json.dumps({"fingerprint": fingerprint, "values": values}))
    partial.rename(path)


def build(config: DPOConfig, data: TrainingData) -> DPO:
    validation = groups_read(data.validation) if data.validation else None
    return DPO(config, groups_read(data.train), validation)


def main(argv: list[str] | None = None) -> int:
    return run_from_command_line("dpo", argv)


if __name__ == "__main__":
    raise SystemExit(main())
