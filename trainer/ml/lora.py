"""Low-rank adapters (LoRA, through `peft`): a run with `lora_r` > 0 freezes the base
model and trains small rank-r updates of its projection matrices, plus what must learn
in full: a reward model's score head, and the embedding rows of the chat tokens.

The adapters go into the model object itself (peft replaces the targeted layers in
place), so the methods' losses, which call the model's submodules directly, train them
unchanged. A finished run saves the adapter alone (`adapter/` in the model's folder,
for `PeftModel.from_pretrained`) and the merged full model where the model always goes,
so generation, the playground, serving and reward scoring load a plain Transformers
directory as before."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peft import LoraConfig, TaskType, get_peft_model
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from trainer.ml.chat import TURN_TOKENS
from trainer.ml.modeling import model_save

# Below the merged model's folder: the adapter by itself.
ADAPTER_DIR = "adapter"
# In the merged model's config.json: the base it was trained from and the LoRA settings.
LORA_KEY = "lora"

# Attention and feed-forward projections of the gated decoders: adapting the feed-forward
# block as well as attention is what lets LoRA come close to full fine-tuning (QLoRA),
# at a few more adapter weights.
_GATED_DECODER = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TARGETS_BY_ARCHITECTURE: dict[str, tuple[str, ...]] = {
    "llama": _GATED_DECODER,
    "mistral": _GATED_DECODER,
    "qwen2": _GATED_DECODER,
    "qwen3": _GATED_DECODER,
    "gemma": _GATED_DECODER,
    "gemma2": _GATED_DECODER,
    # GPT-2's fused query-key-value and its output and feed-forward projections (Conv1D
    # layers, which peft transposes by itself).
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "bert": ("query", "key", "value"),
    "roberta": ("query", "key", "value"),
    "distilbert": ("q_lin", "k_lin", "v_lin", "out_lin"),
}
# Heads a sequence classifier starts without (a decoder's score, BERT's classifier and the
# pooler a masked-LM checkpoint lacks): fresh weights, so they train in full.
FRESH_HEADS = ("score", "classifier", "pooler")
# Every Linear layer but the output one, peft's own reading of "all".
ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class LoraSettings:
    r: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]

    @classmethod
    def of(cls, config, model: PreTrainedModel) -> LoraSettings:
        """From a TrainConfig's lora_* fields, the unset ones filled: alpha 2r, the targets
        of the model's architecture."""
        targets = tuple(config.lora_target_modules) or default_targets(model)
        return cls(
            r=config.lora_r,
            alpha=config.lora_alpha or 2.0 * config.lora_r,
            dropout=config.lora_dropout,
            target_modules=targets,
        )

    def as_dict(self, base_model: str) -> dict:
        return {
            "base_model": base_model,
            "r": self.r,
            "alpha": self.alpha,
            "dropout": self.dropout,
            "target_modules": list(self.target_modules),
            "adapter": ADAPTER_DIR,
        }


def default_targets(model: PreTrainedModel) -> tuple[str, ...]:
    """Ours for the architectures above, else peft's own choice for the architecture, else
    every Linear layer."""
    kind = getattr(model.config, "model_type", "")
    if kind in TARGETS_BY_ARCHITECTURE:
        return TARGETS_BY_ARCHITECTURE[kind]
    known = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(kind)
    return tuple(known) if known else (ALL_LINEAR,)


class Adapted:
    """A model with LoRA adapters in it. `model` is the same object that was given, with
    its targeted layers replaced, and is what a method trains; `peft` wraps it to save."""

    def __init__(
        self,
        model: PreTrainedModel,
        settings: LoraSettings,
        tokenizer: PreTrainedTokenizerBase,
        *,
        base_model: str,
        scores: bool,
    ):
        self.settings, self.base_model = settings, base_model
        targets = settings.target_modules
        peft_config = LoraConfig(
            r=settings.r,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=targets[0] if targets == (ALL_LINEAR,) else list(targets),
            task_type=TaskType.SEQ_CLS if scores else TaskType.CAUSAL_LM,
            modules_to_save=_present(model, FRESH_HEADS) if scores else None,
            trainable_token_indices=_chat_token_rows(model, tokenizer),
        )
        self.peft = get_peft_model(model, peft_config)
        self.model = model

    def save(self, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
        """The adapter in folder/adapter, then the merged model in folder. Merging folds
        the adapters into the weights of the model in memory: saving is a run's last use
        of it."""
        self.peft.save_pretrained(folder / ADAPTER_DIR)
        merged = self.peft.merge_and_unload()
        setattr(merged.config, LORA_KEY, self.settings.as_dict(self.base_model))
        model_save(merged, tokenizer, folder)


def lora_applied(
    model: PreTrainedModel,
    config,
    tokenizer: PreTrainedTokenizerBase,
    *,
    scores: bool = False,
) -> Adapted | None:
    """Adapters for a run whose config asks for them (lora_r > 0), else None: the run
    fine-tunes every weight. `scores`: a sequence classifier (a reward model)."""
    if not config.lora_r:
        return None
    settings = LoraSettings.of(config, model)
    return Adapted(model, settings, tokenizer, base_model=config.base_model, scores=scores)


def trained_save(
    model: PreTrainedModel,
    adapted: Adapted | None,
    tokenizer: PreTrainedTokenizerBase,
    folder: Path,
) -> None:
    """A method's trained model: merged, with its adapter beside it, when it has one."""
    if adapted:
        adapted.save(tokenizer, folder)
    else:
        model_save(model, tokenizer, folder)


def _present(model: nn.Module, names: tuple[str, ...]) -> list[str]:
    children = dict(model.named_children())
    inner = getattr(model, model.base_model_prefix, None)
    if isinstance(inner, nn.Module):
        children.update(inner.named_children())
    return [name for name in names if name in children]


def _chat_token_rows(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> dict:
    """The turn tokens' embedding rows, trained in full (input and, when not tied to it,
    output embeddings): a base that never saw our chat format has random rows there,
    and the model must both read them and learn to end its reply with one."""
    rows = tokenizer.convert_tokens_to_ids(TURN_TOKENS)
    layers = {id(module): name for name, module in model.named_modules()}
    found = {layers[id(model.get_input_embeddings())].rsplit(".", 1)[-1]: rows}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = output is not None and output.weight is model.get_input_embeddings().weight
    if output is not None and not tied:
        found[layers[id(output)].rsplit(".", 1)[-1]] = rows
    return found
