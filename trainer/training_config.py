"""What a training run may be asked for: the settings an admin may give it and the base
model it starts from, checked before anything is queued (400 naming the field otherwise)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from django.conf import settings

from config.errors import InputError
from trainer.ml.methods import METHODS, POLICY, REWARD, TrainingMethod
from trainer.models import ModelVersion

# What an admin may set from the API; the rest of TrainConfig belongs to the platform.
SETTABLE = {
    "max_steps": (int, 0, 1_000_000),
    "epochs": (float, 0.01, 1000.0),
    "lr": (float, 1e-7, 1.0),
    "batch_size": (int, 1, 4096),
    "grad_accum": (int, 1, 1024),
    "max_length": (int, 16, 32_768),
    "warmup_ratio": (float, 0.0, 0.5),
    "min_lr_ratio": (float, 0.0, 1.0),
    "weight_decay": (float, 0.0, 1.0),
    "max_grad_norm": (float, 0.0, 1000.0),
    "seed": (int, 0, 2**31 - 1),
    "checkpoint_every": (int, 0, 1_000_000),
    # Seconds; 0 leaves checkpoints to checkpoint_every alone.
    "checkpoint_every_s": (float, 0.0, 86_400.0),
    "log_every": (int, 1, 100_000),
    "eval_every": (int, 0, 1_000_000),
    "bf16": (bool, None, None),
    # LoRA (trainer.ml.lora); 0 fine-tunes every weight.
    "lora_r": (int, 0, 4096),
}
# In the config of a run that scores its samples (RL): the id of the reward model version
# it was queued with. Set by the platform, never by the admin.
REWARD_MODEL_KEY = "reward_model"
# Settings whose values a range does not describe, each with its own check.
LORA_NAME = re.compile(r"[A-Za-z_][\w.\-]*")


def _lora_alpha(value: object) -> float:
    # isfinite: the run form reads "inf" as a number, and inf > 0.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not value > 0
        or not math.isfinite(value)
    ):
        raise InputError("config.lora_alpha", "A number above 0 (unset: twice lora_r).")
    return float(value)


def _lora_dropout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise InputError("config.lora_dropout", "A number from 0 up to, not including, 1.")
    return float(value)


def _lora_target_modules(value: object) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(name, str) and LORA_NAME.fullmatch(name) for name in value)
    ):
        raise InputError(
            "config.lora_target_modules",
            'A list of layer names, such as ["q_proj", "v_proj"] (unset: the base\'s own).',
        )
    return list(value)


CHECKED_APART = {
    "lora_alpha": _lora_alpha,
    "lora_dropout": _lora_dropout,
    "lora_target_modules": _lora_target_modules,
}


def config_checked(config: object, method: TrainingMethod) -> dict:
    """The settings of a run of `method`: the loop's, and the method's own."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InputError("config", "An object of settings.")
    own = {setting.name: setting for setting in method.settings}
    checked = {}
    for name, value in config.items():
        if name in CHECKED_APART:
            checked[name] = CHECKED_APART[name](value)
        elif name in SETTABLE:
            checked[name] = _number_checked(name, value, *SETTABLE[name])
        elif name in own:
            setting = own[name]
            checked[name] = _number_checked(name, value, setting.type, setting.low, setting.high)
        else:
            others = sorted(m.name for m in METHODS.values() if name in _own_names(m))
            if others:
                raise InputError(
                    f"config.{name}",
                    f"A setting of {' and '.join(others)} runs, not {method.name}.",
                )
            known = ", ".join(sorted([*SETTABLE, *CHECKED_APART, *own]))
            raise InputError(f"config.{name}", f"Not a setting; known: {known}.")
    return checked


def _own_names(method: TrainingMethod) -> set[str]:
    return {setting.name for setting in method.settings}


def _number_checked(name: str, value: object, kind: type, low, high) -> object:
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(f"config.{name}", "true or false.")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"config.{name}", "A number.")
    elif kind is int and value != int(value):
        raise InputError(f"config.{name}", "A whole number.")
    elif not low <= value <= high:
        raise InputError(f"config.{name}", f"Between {low} and {high}.")
    return kind(value)


def base_model_checked(base_model: object) -> str:
    """ "" (the built-in tiny model), "model:<id>" (one of our model versions) or a local
    Hugging Face model directory."""
    if base_model in (None, ""):
        return ""
    if not isinstance(base_model, str):
        raise InputError("base_model", "A model directory or model:<id>.")
    if base_model.startswith("model:"):
        number = base_model.removeprefix("model:")
        # isascii: isdigit() holds for "²" too, which int() refuses.
        if (
            not (number.isascii() and number.isdigit())
            or not ModelVersion.objects.filter(pk=int(number)).exists()
        ):
            raise InputError("base_model", f"No model version {number}.")
        return base_model
    if not (Path(base_model) / "config.json").is_file():
        raise InputError("base_model", f"{base_model} is not a model directory.")
    return base_model


def base_model_path(base_model: str) -> str:
    if base_model.startswith("model:"):
        version = ModelVersion.objects.get(pk=int(base_model.removeprefix("model:")))
        return str(Path(settings.DATA_DIR) / version.path)
    return base_model


# The architectures, as config.json names them, of models that generate text.
GENERATIVE_ARCHITECTURES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def base_model_fits(base_model: str, method: TrainingMethod) -> str:
    """`base_model` (already checked) where it is what `method` starts from: a method that
    fine-tunes a policy further (DPO) needs a generative base, a model version that answers
    or a directory of a generative architecture. The built-in tiny model is refused there:
    from random weights there is no policy to improve, and no reference worth staying near."""
    if method.starts_from != POLICY:
        return base_model
    wanted = (
        f"A {method.name} run starts from a generative model: model:<id> of an SFT (or other "
        "policy) model version, or a local directory of a causal language model."
    )
    if not base_model:
        raise InputError("base_model", wanted)
    if base_model.startswith("model:"):
        version = ModelVersion.objects.get(pk=int(base_model.removeprefix("model:")))
        if version.produces != POLICY:
            raise InputError(
                "base_model", f"{version.name} is a {version.kind_label.lower()}. {wanted}"
            )
        return base_model
    try:
        declared = json.loads((Path(base_model) / "config.json").read_text()).get("architectures")
    except (OSError, ValueError, AttributeError):
        declared = None
    # A config that names no architecture is given the benefit of the doubt: loading it as
    # a causal language model is what tells.
    if declared and not any(a.endswith(GENERATIVE_ARCHITECTURES) for a in declared):
        raise InputError("base_model", f"{base_model} is a {', '.join(declared)}. {wanted}")
    return base_model


def promoted_reward_model() -> ModelVersion:
    """The reward model a run scores its samples with: the promoted one."""
    version = ModelVersion.objects.promoted(REWARD)
    if version is None:
        raise InputError("reward_model", "No reward model is promoted: promote one first.")
    return version
