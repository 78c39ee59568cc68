"""How a reward model turns a sequence into one score, and the sequence it reads.

A decoder reads the whole sequence only at its last token, so its score is read there
(LAST). An encoder reads in both directions and was pretrained on sequences that start
with its tokenizer's own [CLS] (or <s>) and end with [SEP] (or </s>): its sequences are
framed so, and its score comes from the [CLS] position through its own classification
head (CLS), or, for a checkpoint trained for sentence embeddings by averaging (a
sentence-transformers directory whose pooling config says so, all-MiniLM-L6-v2 among
them), from the mean of its real tokens' last hidden states through a linear head (MEAN).

The choice is saved in the model's config.json (POOLING_KEY), so that training,
evaluation and RewardScorer all read the score the same way."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

LAST = "last"
CLS = "cls"
MEAN = "mean"
# In the saved config.json. A model saved before it was kept has none: a decoder then
# reads LAST and an encoder CLS, as they did.
POOLING_KEY = "reward_pooling"
# Where sentence-transformers keeps its pooling module when modules.json does not say.
SENTENCE_POOLING_DIR = "1_Pooling"


def pooling_chosen(base_model: str, *, causal: bool) -> str:
    """LAST for a causal model; for an encoder MEAN when its directory is a
    sentence-transformers model that averages its tokens, else CLS."""
    if causal:
        return LAST
    settings = _sentence_pooling(Path(base_model)) if base_model else None
    if settings and settings.get("pooling_mode_mean_tokens") is True:
        return MEAN
    return CLS


def _sentence_pooling(folder: Path) -> dict | None:
    """The sentence-transformers pooling config of `folder`, None without one."""
    where = SENTENCE_POOLING_DIR
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        where = next(m["path"] for m in modules if str(m.get("type", "")).endswith("Pooling"))
    except (OSError, ValueError, TypeError, KeyError, StopIteration):
        pass  # no modules.json, or one naming no pooling module: the usual place
    try:
        found = json.loads((folder / where / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def sequence_framed(
    tokenizer: PreTrainedTokenizerBase, ids: list[int], limit: int, pooling: str
) -> list[int]:
    """`ids` (a rendered conversation) cut to `limit` tokens from the left, as the score
    depends on the reply at its end. For an encoder, between the tokenizer's own start
    and end tokens, which the cut never removes: the [CLS] position is where a CLS score
    is read, and a sequence cut from the left would otherwise start on any word."""
    if pooling == LAST:
        return ids[-limit:]
    start, end = encoder_ends(tokenizer)
    room = max(0, limit - len(start) - len(end))
    return start + ids[len(ids) - room :] + end if room else start + end


def encoder_ends(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids an encoder's sequence starts and ends with: [CLS] (else its bos) and [SEP],
    where its tokenizer has them. Not eos: tokenizer_prepare made that the turn end, which
    every rendered conversation already ends with."""
    first = tokenizer.cls_token_id
    if first is None:
        first = tokenizer.bos_token_id
    last = tokenizer.sep_token_id
    return ([first] if first is not None else []), ([last] if last is not None else [])


def encoder_scores(
    model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, pooling: str
) -> torch.Tensor:
    """One score per right-padded row of an encoder, (B,) in float32."""
    if pooling == CLS:
        # Every encoder's classification head reads the first position.
        return model(input_ids=ids, attention_mask=mask).logits[:, 0].float()
    body = getattr(model, model.base_model_prefix)
    hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
    weights = mask.to(hidden.dtype)[..., None]  # (B, T, 1)
    mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # (B, H)
    # The head is a Linear on the pooled vector (BERT, DeBERTa, DistilBERT) or a small
    # network reading a sequence's first position (RoBERTa, Electra, MPNet): a sequence of
    # one position holding the mean suits both, and either way gives (B, 1, labels) or
    # (B, labels), whose first number is the score.
    out = _score_head(model)(mean[:, None])
    return out.reshape(len(ids), -1)[:, 0].float()  # (B,)


def _score_head(model: PreTrainedModel) -> nn.Module:
    head = getattr(model, "classifier", None)
    return head if head is not None else model.score


def unused_frozen(module: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> list[str]:
    """Freeze the trainable weights a score never reads, found by one backward pass over
    `batch`, and return their names. Mean pooling leaves a head's own pooler unread
    (BERT's dense layer over [CLS]): several-process training (DDP) refuses a trainable
    weight that gets no gradient, and there is nothing for it to learn."""
    was_training = module.training
    module.eval()
    module([batch]).sum().backward()
    module.train(was_training)
    unused = []
    for name, parameter in module.named_parameters():
        if parameter.requires_grad and parameter.grad is None:
            parameter.requires_grad_(False)
            unused.append(name)
        parameter.grad = None
    return unused
