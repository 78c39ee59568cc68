"""Building the default tiny model and loading any local Hugging Face model directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from trainer.ml.chat import tokenizer_prepare, tokenizer_train


def tiny_config(tokenizer: PreTrainedTokenizerBase, *, max_length: int) -> LlamaConfig:
    """About 5M parameters with a 4,096-token vocabulary: small enough to train on a
    laptop's CPU in seconds, with the same architecture as the Llama checkpoints a real
    deployment points `base_model` at."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=max(512, max_length),
        # Tied input and output embeddings: a fifth of the parameters at this size.
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )


def tokenizer_load_or_train(base_model: str, texts: Iterable[str]) -> PreTrainedTokenizerBase:
    if base_model:
        return tokenizer_prepare(AutoTokenizer.from_pretrained(base_model))
    return tokenizer_train(texts)


def run_tokenizer(output_dir: str, base_model: str, texts: Iterable[str]):
    """The run's tokenizer: the one saved in its folder, since a resumed run must see the
    tokenizer its checkpoints were trained with; else made from the base model or learned
    from `texts`, and saved. Every process of a run gets here at once: the folder is
    published by a rename, so none reads another's half-written files. They all make the
    same tokenizer (same base, same texts), so whichever rename wins is theirs too."""
    saved = Path(output_dir) / "tokenizer"
    if saved.exists():
        return tokenizer_load_or_train(str(saved), texts)
    tokenizer = tokenizer_load_or_train(base_model, texts)
    partial = saved.with_name(f".tokenizer-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer.save_pretrained(partial)
    try:
        partial.rename(saved)
    except OSError:  # another process published it first: train with that one
        shutil.rmtree(partial, ignore_errors=True)
        return tokenizer_load_or_train(str(saved), texts)
    return tokenizer


def causal_lm_load(
    base_model: str, tokenizer: PreTrainedTokenizerBase, *, max_length: int
) -> PreTrainedModel:
    """The SFT starting point: the tiny model built from its config (weights drawn from
    the current seed), or a local checkpoint directory."""
    if not base_model:
        return LlamaForCausalLM(tiny_config(tokenizer, max_length=max_length))
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
    return _fit_to_tokenizer(model, tokenizer)


def reward_model_load(
    base_model: str, tokenizer: PreTrainedTokenizerBase, *, max_length: int
) -> PreTrainedModel:
    """A model with one scalar output per sequence. From a decoder checkpoint (an SFT
    model version, a Llama or Qwen directory) the score is read at the last real token;
    from an encoder (BERT-like) at the first, as its own classification head does."""
    if not base_model:
        config = tiny_config(tokenizer, max_length=max_length)
        config.num_labels = 1
        return LlamaForSequenceClassification(config)
    model = AutoModelForSequenceClassification.from_pretrained(
        base_model, num_labels=1, dtype=torch.float32
    )
    return _fit_to_tokenizer(model, tokenizer)


def _fit_to_tokenizer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase):
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    # Only generative models have a generation config; a sequence classifier has none.
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


@torch.no_grad()
def attends_only_backwards(model: PreTrainedModel) -> bool:
    """Whether the model is causal, found by trying it: append tokens to a sequence and
    see if the outputs at the earlier positions move.

    For a causal model a right-padded batch needs no attention mask at all (no real
    token can see the padding after it), which lets attention take its fast causal path.
    An encoder sees in both directions and must be given the mask."""
    was_training = model.training
    model.eval()
    probe = torch.tensor([[3, 5, 7, 11, 13, 17]], device=model.device) % model.config.vocab_size
    short = _outputs(model, probe[:, :4])
    long = _outputs(model, probe)[:, :4]
    model.train(was_training)
    return bool(torch.allclose(short, long, atol=1e-4))


def _outputs(model: PreTrainedModel, ids: torch.Tensor) -> torch.Tensor:
    hidden = getattr(model, model.base_model_prefix)(input_ids=ids).last_hidden_state
    return hidden.float()


def model_save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """The layout TRL, vLLM and `from_pretrained` read: config, safetensors weights,
    tokenizer files with the chat template."""
    folder.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
