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

import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    LlamaForSequenceClassification,
    PreTrainedModel,
)
from transformers.models.llama.modeling_llama import repeat_kv, rotate_half

from trainer.ml.batching import length_buckets, length_runs, pair_indices, right_padded
from trainer.ml.chat import Message, conversation_encode, conversation_texts
from trainer.ml.cli import run_from_command_line
from trainer.ml.data import RankedGroup, groups_read
from trainer.ml.loop import Processes, TrainConfig
from trainer.ml.lora import lora_applied, trained_save
from trainer.ml.methods import TrainingData
from trainer.ml.modeling import (
    attends_only_backwards,
    reward_model_load,
    run_tokenizer,
)
from trainer.ml.pooling import (
    CLS,
    LAST,
    MEAN,
    POOLING_KEY,
    encoder_scores,
    pooling_chosen,
    sequence_framed,
    unused_frozen,
)

# Stored in the saved config: models whose score layer has no bias (Llama's) keep the
# shift here, and RewardScorer adds it.
BIAS_KEY = "reward_bias"
# Saved in the model's config beside the bias: the one length the model was trained and
# evaluated at, which scoring uses too (a scorer guessing its own would read scores the
# evaluation never saw, or overrun an encoder's position embeddings).
MAX_LENGTH_KEY = "reward_max_length"
# Replies scored in one forward pass by RewardScorer.scores: a padded batch this size costs
# a small model little more than one reply, and bounds the memory of a long list.
SCORE_ROWS = 64


def length_limit(model: PreTrainedModel, wanted: int) -> int:
    """`wanted`, or less where the model has fewer positions: an encoder such as BERT has
    512 and fails on anything longer."""
    positions = getattr(model.config, "max_position_embeddings", None)
    return min(wanted, positions) if positions else wanted


@dataclass
class RewardConfig(TrainConfig):
    """The reward model trains with the loop's settings alone so far; a setting only it
    needs (say, a margin in the loss) goes here, its default's reason beside it."""


CONFIG = RewardConfig


@dataclass(frozen=True)
class EncodedGroup:
    sequences: list[list[int]]  # one per completion: prompt and completion, rendered
    pairs: list[tuple[int, int]]  # (better, worse) indices into sequences


class ScalarRewards(nn.Module):
    """One score per right-padded row, read as `pooling` says (trainer.ml.pooling): at its
    last real token (decoders), or at the [CLS] position or the mean of its tokens
    (encoders). Takes several padded batches and returns the scores of all their rows in
    order: one call per step, as DDP needs, however many forwards the rows are split into
    (see `length_runs`)."""

    def __init__(self, model: PreTrainedModel, pooling: str):
        super().__init__()
        self.model = model
        self.pooling = pooling
        self.causal = pooling == LAST
        self.last_layer_at_ends = self.causal and llama_scores_apply(model)

    def forward(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        scores = []
        for ids, mask in batches:
            if self.last_layer_at_ends:
                scores.append(llama_scores(self.model, ids, mask.sum(dim=1)))  # (n,)
            elif self.causal:
                # No mask: for right padding a causal model needs none.
                scores.append(self.model(input_ids=ids).logits[:, 0].float())  # (n,)
            else:
                scores.append(encoder_scores(self.model, ids, mask, self.pooling))  # (n,)
        return torch.cat(scores)  # (N,)


def llama_scores_apply(model: PreTrainedModel) -> bool:
    """Whether `llama_scores` computes what this model's own forward does: a Llama
    sequence classifier (the default tiny model, or one started from a Llama checkpoint)
    with one label and no attention dropout."""
    return (
        type(model) is LlamaForSequenceClassification
        and model.config.num_labels == 1
        and not model.config.attention_dropout
    )


def llama_scores(
    model: LlamaForSequenceClassification, ids: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """`model(input_ids=ids).logits[:, 0]` for right-padded rows of a causal Llama, with the
    last decoder layer run only at the token the score is read at, each row's last real
    one. That layer still takes keys and values from every position, but its query,
    attention output, MLP, the final norm and the score head see one position a row: a
    fifth of the work of the 4-layer default model, 1/L of an L-layer one."""
    body = model.model
    rows, width = ids.shape
    hidden = body.embed_tokens(ids)  # (B, T, H)
    positions = torch.arange(width, device=ids.device)[None]  # (1, T)
    cos, sin = body.rotary_emb(hidden, positions)  # (1, T, d) each
    *first, final = body.layers[: model.config.num_hidden_layers]
    for layer in first:
        # No mask: for right padding a causal model needs none (see ScalarRewards).
        hidden = layer(hidden, position_ids=positions, position_embeddings=(cos, sin))
    attention = final.self_attn
    head_dim = attention.head_dim
    ends = lengths - 1  # (B,)
    picked = torch.arange(rows, device=ids.device)
    normed = final.input_layernorm(hidden)  # (B, T, H)
    keys = attention.k_proj(normed).view(rows, width, -1, head_dim).transpose(1, 2)  # (B, h, T, d)
    values = attention.v_proj(normed).view(rows, width, -1, head_dim).transpose(1, 2)
    query = attention.q_proj(normed[picked, ends]).view(rows, -1, 1, head_dim)  # (B, h, 1, d)
    keys = keys * cos[:, None] + rotate_half(keys) * sin[:, None]
    end_cos, end_sin = cos[0, ends][:, None, None], sin[0, ends][:, None, None]  # (B, 1, 1, d)
    query = query * end_cos + rotate_half(query) * end_sin
    keys = repeat_kv(keys, attention.num_key_value_groups)
    values = repeat_kv(values, attention.num_key_value_groups)
    seen = (torch.arange(width, device=ids.device)[None] <= ends[:, None])[:, None, None]
    attended = F.scaled_dot_product_attention(
        query, keys, values, attn_mask=seen, scale=attention.scaling
    )  # (B, h, 1, d)
    out = hidden[picked, ends] + attention.o_proj(attended.reshape(rows, -1))  # (B, H)
    out = out + final.mlp(final.post_attention_layernorm(out))
    return model.score(body.norm(out))[:, 0].float()  # (B,)


# On a CPU one more forward (and backward) pass of the tiny model costs what some 50
# more positions do (measured: a (1, 64) batch takes as long as 110 positions of a
# (16, 256) one), far less than the padding a long row forces on short ones. On a GPU
# padding in a launch-bound forward is nearly free, so rows stay in one forward there.
CPU_FORWARD_COST = 64


def sequences_encode(
    tokenizer,
    prompt: list[Message],
    completion: list[Message],
    limit: int,
    pooling: str = LAST,
):
    """The ids a reward model scores: the conversation, framed for `pooling` and cut to
    `limit` from the left (a long prompt loses its beginning, never the reply)."""
    ids, _ = conversation_encode(tokenizer, [*prompt, *completion])
    return sequence_framed(tokenizer, ids, limit, pooling)


class Reward:
    def __init__(
        self,
        config: RewardConfig,
        train: list[RankedGroup],
        validation: list[RankedGroup] | None = None,
        demonstrations: list[list[Message]] | None = None,
    ):
        self.config = config
        texts = conversation_texts(
            [g.prompt + [m for c in g.completions for m in c] for g in train]
        )
        self.tokenizer = run_tokenizer(config.output_dir, config.base_model, texts)
        torch.manual_seed(config.seed)
        self.model = reward_model_load(
            config.base_model, self.tokenizer, max_length=config.max_length
        )
        self.max_length = length_limit(self.model, config.max_length)
        setattr(self.model.config, MAX_LENGTH_KEY, self.max_length)
        causal = attends_only_backwards(self.model)
        self.pooling = pooling_chosen(config.base_model, causal=causal)
        setattr(self.model.config, POOLING_KEY, self.pooling)
        self.adapted = lora_applied(self.model, config, self.tokenizer, scores=True)
        self.module = ScalarRewards(self.model, self.pooling)
        self.train_set = [self._encode(g) for g in train]
        self.validation_set = [self._encode(g) for g in validation or []]
        if self.pooling == MEAN and self.train_set:
            # Mean pooling leaves the head's own pooler unread; freeze it (see unused_frozen).
            unused_frozen(self.module, self._batch(self.train_set[0].sequences[:1]))
        # Without demonstrations, the best-ranked replies stand in for them.
        self.demonstrations = demonstrations or [
            g.prompt + g.completions[g.ranking[0][0]] for g in train
        ]
        if not self.train_set:
            raise ValueError("No ranking with two completions in different places.")

    def _encode(self, group: RankedGroup) -> EncodedGroup:
        limit = self.max_length
        sequences = [
            sequences_encode(self.tokenizer, group.prompt, c, limit, self.pooling)
            for c in group.completions
        ]
        return EncodedGroup(sequences, group.pairs())

    def epoch_plan(self, epoch: int, rng: random.Random) -> list[list[int]]:
        longest = [max(len(s) for s in g.sequences) for g in self.train_set]
        return length_buckets(longest, self.config.batch_size, rng)

    def units(self, batch: list[int]) -> int:
        return len(batch)

    def loss_sum(self, module: nn.Module, shard: list[int]) -> tuple[torch.Tensor, dict]:
        groups = [self.train_set[i] for i in shard]
        sequences = [s for g in groups for s in g.sequences]
        device = next(self.model.parameters()).device
        if device.type == "cpu":
            runs = length_runs([len(s) for s in sequences], forward_cost=CPU_FORWARD_COST)
        else:
            runs = [list(range(len(sequences)))]
        by_run = module([self._batch([sequences[i] for i in run]) for run in runs])  # (N,)
        # Back to the order of `sequences`, which the pair indices refer to.
        order = torch.tensor([i for run in runs for i in run], device=device)
        scores = by_run[torch.argsort(order)]  # (N,)
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
        return pair_indices(groups, device)

    @torch.no_grad()
    def scores(self, sequences: list[list[int]]) -> torch.Tensor:
        """Scores in the order given. Chunks are cut from the sequences sorted by length, so
        each pads to a length near its own rows' rather than to the longest of a random mix."""
        self.module.eval()
        chunk = self.config.batch_size * 4
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        found = [
            self.module([self._batch([sequences[i] for i in order[start : start + chunk]])])
            for start in range(0, len(order), chunk)
        ]
        self.module.train()
        by_length = torch.cat(found)
        scores = torch.empty_like(by_length)
        scores[torch.tensor(order, device=by_length.device)] = by_length
        return scores + float(getattr(self.model.config, BIAS_KEY, 0.0))

    def finish(self, processes: Processes) -> None:
        """Shift scores so approved demonstrations average 0. Each process scores its share
        of them; the sums meet in one all-reduce, so every process saves the same bias."""
        sequences = [
            sequences_encode(self.tokenizer, c[:-1], c[-1:], self.max_length, self.pooling)
            for c in self.demonstrations[processes.rank :: processes.world]
        ]
        setattr(self.model.config, BIAS_KEY, 0.0)
        mine = float(self.scores(sequences).sum()) if sequences else 0.0
        total, count = processes.sum([mine, float(len(sequences))])
        setattr(self.model.config, BIAS_KEY, -total / count if count else 0.0)

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
        trained_save(self.model, self.adapted, self.tokenizer, folder)


class RewardScorer:
    """Scores replies with a saved reward model, the demonstration shift included."""

    def __init__(self, folder: str | Path, *, max_length: int | None = None):
        """`max_length` None: the length the model was trained at, saved with it (for a
        model saved before that was kept, 1024); never more than the model's positions."""
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        self.bias = float(getattr(self.model.config, BIAS_KEY, 0.0))
        saved = getattr(self.model.config, MAX_LENGTH_KEY, None)
        self.max_length = length_limit(self.model, max_length or saved or 1024)
        self.pooling = getattr(self.model.config, POOLING_KEY, None) or (
            LAST if attends_only_backwards(self.model) else CLS
        )
        # The module training scored with, so scores here are the ones evaluation saw.
        self.module = ScalarRewards(self.model, self.pooling).eval()

    def sequence(self, prompt: list[Message], reply: str) -> list[int]:
        """The ids the model reads for `reply` to `prompt`."""
        completion = [{"role": "assistant", "content": reply}]
        return sequences_encode(self.tokenizer, prompt, completion, self.max_length, self.pooling)

    @torch.no_grad()
    def score(self, prompt: list[Message], reply: str) -> float:
        ids = torch.tensor([self.sequence(prompt, reply)])
        return float(self.module([(ids, torch.ones_like(ids))])[0]) + self.bias

    @torch.no_grad()
    def scores(
        self, texts: list[tuple[list[Message], str]], device: torch.device | None = None
    ) -> torch.Tensor:
        """The scores of many (prompt, reply) pairs, batched, on `device` (the model moves
        there), returned on the CPU."""
        device = device or torch.device("cpu")
        self.module.to(device)
        sequences = [self.sequence(prompt, reply) for prompt, reply in texts]
        found = [torch.zeros(0)]
        for start in range(0, len(sequences), SCORE_ROWS):
            chunk = sequences[start : start + SCORE_ROWS]
            ids = right_padded(chunk, self.tokenizer.pad_token_id, device)
            mask = right_padded([[1] * len(s) for s in chunk], 0, device)
            found.append(self.module([(ids, mask)]).float().cpu())
        return torch.cat(found) + self.bias  # (R,)


def build(config: RewardConfig, data: TrainingData) -> Reward:
    validation = groups_read(data.validation) if data.validation else None
    return Reward(config, groups_read(data.train), validation, data.demonstrations)


def main(argv: list[str] | None = None) -> int:
    return run_from_command_line("reward", argv)


if __name__ == "__main__":
    raise SystemExit(main())
