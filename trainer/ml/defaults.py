"""The training settings whose default depends on the base model: a model trained from
scratch and a pretrained one want learning rates an order of magnitude apart.

Measured: the all-MiniLM-L6-v2 weights trained at the from-scratch rate (5e-4) learned
nothing in 135 steps (the loss stayed at 0.69), while the same run at 5e-5 learned well. A
step sized for random weights throws away what pretraining put in them.

Reads a base's config.json only, never its weights, so the run form and the command line
can ask cheaply. Torch-free, so Django pages may import it."""

from __future__ import annotations

import json
from pathlib import Path

# The built-in tiny model starts from random weights: large steps are what moves it.
FROM_SCRATCH_LR = 5e-4
# The usual fine-tuning rate for pretrained models up to a few hundred million parameters
# (BERT and MiniLM encoders, small Llamas and Qwens).
PRETRAINED_LR = 5e-5
# Larger models are fine-tuned more gently: their updates add up over many more weights,
# and a too-large step undoes pretraining (the loss jumps, then climbs back slowly).
LARGE_PRETRAINED_LR = 2e-5
# LoRA adapters start at zero and hold few weights, so they move the model only with
# steps an order of magnitude above full fine-tuning's; 2e-4 is the rate LoRA and QLoRA
# were tuned with, for models from 100M to 65B parameters.
LORA_LR = 2e-4
# Where "larger" starts. The estimate below is rough (within tens of percent), which is
# enough to tell a 0.5B model from a 7B one.
LARGE_PARAMETERS = 1_000_000_000

# The same quantity goes by different names across Hugging Face model families.
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model")
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")
FEED_FORWARD_KEYS = ("intermediate_size", "n_inner", "ffn_dim", "d_ff")
POSITION_KEYS = ("max_position_embeddings", "n_positions")
# Transformers 5 writes rope_parameters where 4 wrote rope_theta.
ROTARY_KEYS = ("rope_parameters", "rope_theta", "rope_scaling", "rotary_dim", "rotary_pct")
# Activations of gated feed-forward blocks (Llama, Qwen, Mistral): three matrices, not two.
GATED_ACTIVATIONS = {"silu", "swiglu", "swish"}
# Model families that read in both directions. A reward model from one scores at the
# pooled first position, where a decoder scores at the last token.
ENCODER_TYPES = {
    "albert",
    "bert",
    "camembert",
    "deberta",
    "deberta-v2",
    "distilbert",
    "electra",
    "modernbert",
    "mpnet",
    "roberta",
    "xlm-roberta",
}
DECODER = "decoder"
ENCODER = "encoder"


def base_defaults(base_model: str) -> dict[str, float]:
    """The settings a run on `base_model` ("" for the built-in tiny model trained from
    scratch, else a local model directory) gets when it does not set them."""
    if not base_model:
        return {"lr": FROM_SCRATCH_LR}
    # A model directory of ours or from elsewhere: pretrained either way. Without a
    # readable config.json the size is unknown, and the small-model rate is the safer
    # guess for the models this platform usually trains.
    parameters = parameters_estimated(Path(base_model))
    if parameters is not None and parameters > LARGE_PARAMETERS:
        return {"lr": LARGE_PRETRAINED_LR}
    return {"lr": PRETRAINED_LR}


def settings_with_base_defaults(settings: dict) -> dict:
    """`settings` with the base's defaults filled in where not given: a value the user
    set always wins. A LoRA run (lora_r > 0) on a pretrained base gets LORA_LR."""
    base_model = str(settings.get("base_model") or "")
    defaults = base_defaults(base_model)
    if base_model and settings.get("lora_r"):
        defaults["lr"] = LORA_LR
    return {**defaults, **settings}


def parameters_estimated(model_dir: Path) -> int | None:
    """A transformer's parameter count from its config.json: embeddings plus, per layer,
    the attention projections and the feed-forward block. Biases and norms are left out
    (about 1% of a real model). None when the file is missing or does not say the sizes."""
    config = _config_read(model_dir)
    if config is None:
        return None
    hidden = _first_number(config, HIDDEN_KEYS)
    layers = _first_number(config, LAYER_KEYS)
    vocabulary = _first_number(config, ("vocab_size",))
    if not (hidden and layers and vocabulary):
        return None
    feed_forward = _first_number(config, FEED_FORWARD_KEYS) or 4 * hidden
    heads = _first_number(config, ("num_attention_heads", "n_head")) or 1
    head_size = _first_number(config, ("head_dim",)) or hidden // heads
    # Grouped-query attention: keys and values have fewer heads than queries.
    key_value_heads = _first_number(config, ("num_key_value_heads",)) or heads
    attention = 2 * hidden * heads * head_size + 2 * hidden * key_value_heads * head_size
    gated = str(config.get("hidden_act", "")).lower() in GATED_ACTIVATIONS
    mlp = (3 if gated else 2) * hidden * feed_forward
    embeddings = vocabulary * hidden
    # Learned position embeddings (BERT, GPT-2); rotary ones (Llama, Qwen) have no weights.
    rotary = any(key in config for key in ROTARY_KEYS)
    if not rotary:
        embeddings += _first_number(config, POSITION_KEYS) * hidden
    # An untied output layer is a second vocabulary-by-hidden matrix.
    output = 0 if config.get("tie_word_embeddings", True) else embeddings
    return embeddings + output + layers * (attention + mlp)


def architecture(model_dir: Path) -> str | None:
    """DECODER or ENCODER as the base's config.json says, None when it does not say."""
    config = _config_read(model_dir)
    if config is None:
        return None
    if str(config.get("model_type", "")).lower() in ENCODER_TYPES:
        return ENCODER
    return DECODER if config.get("model_type") else None


def _config_read(model_dir: Path) -> dict | None:
    """The model's config.json as a dict, a multimodal model's language part, or None."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    # Multimodal configs keep the language model's sizes one level down.
    if isinstance(config.get("text_config"), dict):
        return config["text_config"]
    return config


def _first_number(config: dict, keys: tuple[str, ...]) -> int:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0
