"""The training methods, one entry each: what a run of the method trains on, the module
that trains it and what it reports. One entry is all the platform needs to queue, run and
schedule runs of a method; nothing else chooses between methods by name.

The registry is plain data and an import path, so the web process, which checks a run
request against it, never loads torch. A method's module is imported only where a run
trains, and holds:

- `CONFIG`, its config dataclass (a `trainer.ml.loop.TrainConfig`, plus its own settings),
- its Method class (`trainer.ml.loop.Method`), which owns its loss and metrics,
- `build(config, data)`, which makes that Method from a `TrainingData`,
- `main(argv)`: `python -m <module>` trains from a shell (`trainer.ml.cli`), and is how a
  worker starts a run in several processes."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class TrainingData:
    """What a Method is built from: exported snapshot files, approved demonstrations for a
    method that asks for them (`TrainingMethod.wants_demonstrations`), and the saved reward
    model that scores samples for one that asks for that (`wants_reward_model`)."""

    train: Path
    validation: Path | None = None
    demonstrations: list[list[dict]] | None = None
    reward_model: Path | None = None


@dataclass(frozen=True)
class MethodSetting:
    """A setting of one method's own (its CONFIG's, beyond the loop's), which the API and
    the run form accept for runs of that method: a number from `low` to `high`."""

    name: str
    label: str
    hint: str
    low: float
    high: float
    # int for counts (samples, tokens), which refuse a fraction.
    type: type = float


@dataclass(frozen=True)
class TrainingMethod:
    # The run's and its model version's `kind`.
    name: str
    # What pages call it: "Supervised fine-tuning".
    label: str
    # What its model versions are for: POLICY or REWARD.
    produces: str
    # Imported only to train: see the module docstring for what it holds.
    module: str
    # The snapshot kinds a run trains on, the first being what a fresh export makes.
    snapshot_kinds: tuple[str, ...]
    # What its evaluation reports, named for a validation split (a run without one
    # reports `train_...` in their place).
    metrics: tuple[str, ...]
    # What its training steps count besides the loss (totals since the last record).
    counters: tuple[str, ...]
    # The Django setting of how much new data of the fresh snapshot kind starts a
    # scheduled run; "" for a method never scheduled.
    retrain_setting: str
    # Whether it is given approved demonstrations (the reward model centres its scores
    # on them).
    wants_demonstrations: bool = False
    # Its own settings, which runs of other methods refuse.
    settings: tuple[MethodSetting, ...] = ()
    # What its base must produce (POLICY: it fine-tunes a generative model further), or
    # None for any base. A scheduled run starts from the promoted model of that product.
    starts_from: str | None = None
    # Whether it is given the promoted reward model (RL scores its samples with it): a run
    # is refused while none is promoted.
    wants_reward_model: bool = False
    # Metrics of its progress records drawn as charts of their own on the run page, each
    # beside the evaluation's value of the same name (`validation_<name>`).
    charts: tuple[str, ...] = ()

    def implementation(self) -> ModuleType:
        """The method's module, which loads torch. Run as `python -m`, the module is
        `__main__` and is used as it is rather than executed a second time."""
        main = sys.modules.get("__main__")
        if getattr(getattr(main, "__spec__", None), "name", None) == self.module:
            assert main is not None
            return main
        return importlib.import_module(self.module)

    def config_type(self) -> type:
        return self.implementation().CONFIG

    def build(self, config: Any, data: TrainingData) -> Any:
        """The method's `trainer.ml.loop.Method`, ready for `trainer.ml.loop.train`."""
        return self.implementation().build(config, data)


# A generative model that answers a conversation: generation samples candidates from one.
POLICY = "policy"
# A scorer of a reply to a conversation: the playground scores with one.
REWARD = "reward"
PRODUCTS = (POLICY, REWARD)


class UnknownMethod(LookupError):
    """No training method has this name."""

    def __init__(self, name: object):
        self.name = name
        super().__init__(f"No training method {name!r}; known: {', '.join(METHODS)}.")


METHODS: dict[str, TrainingMethod] = {}


def method_register(method: TrainingMethod) -> TrainingMethod:
    if method.name in METHODS:
        raise ValueError(f"Training method {method.name!r} is registered twice.")
    if not method.snapshot_kinds:
        raise ValueError(f"Training method {method.name!r} trains on no snapshot kind.")
    if method.produces not in PRODUCTS:
        raise ValueError(
            f"Training method {method.name!r} produces {method.produces!r}, "
            f"not one of {', '.join(PRODUCTS)}."
        )
    METHODS[method.name] = method
    return method


def method_unregister(name: str) -> None:
    """Forget a method: for a test's throwaway method."""
    del METHODS[name]


def training_method(name: str) -> TrainingMethod:
    # A name from a request may be anything JSON holds, a list included.
    method = METHODS.get(name) if isinstance(name, str) else None
    if method is None:
        raise UnknownMethod(name)
    return method


def training_methods() -> list[TrainingMethod]:
    """Every method, in the order they were registered."""
    return list(METHODS.values())


def training_method_choices() -> list[tuple[str, str]]:
    """(name, label) of every method: the allowed kinds of a run and of a model version."""
    return [(method.name, method.label) for method in METHODS.values()]


def method_kinds_producing(produces: str) -> list[str]:
    """The names of the methods whose model versions are `produces` (POLICY or REWARD)."""
    return [method.name for method in METHODS.values() if method.produces == produces]


method_register(
    TrainingMethod(
        name="sft",
        label="Supervised fine-tuning",
        produces=POLICY,
        module="trainer.ml.sft",
        snapshot_kinds=("sft",),
        metrics=("validation_loss", "validation_perplexity"),
        counters=("tokens",),
        retrain_setting="TRAINING_RETRAIN_MIN_DEMONSTRATIONS",
    )
)
method_register(
    TrainingMethod(
        name="reward",
        label="Reward model",
        produces=REWARD,
        module="trainer.ml.reward",
        snapshot_kinds=("rankings", "preference"),
        metrics=(
            "validation_accuracy",
            "validation_loss",
            "validation_pairs",
            "reward_mean",
            "reward_std",
        ),
        counters=("pairs", "sequences", "tokens"),
        retrain_setting="TRAINING_RETRAIN_MIN_RANKINGS",
        wants_demonstrations=True,
    )
)
method_register(
    TrainingMethod(
        name="dpo",
        label="Direct preference optimization",
        produces=POLICY,
        module="trainer.ml.dpo",
        snapshot_kinds=("rankings", "preference"),
        metrics=(
            "validation_accuracy",
            "validation_loss",
            "validation_pairs",
            "validation_margin",
            "validation_chosen_reward",
            "validation_rejected_reward",
            "validation_kl",
        ),
        counters=("pairs", "sequences", "tokens"),
        retrain_setting="TRAINING_RETRAIN_DPO_MIN_RANKINGS",
        settings=(
            MethodSetting(
                "beta",
                "DPO beta",
                "How far the policy may move from its base: lower moves further; 0.1.",
                0.001,
                10.0,
            ),
            MethodSetting(
                "label_smoothing",
                "DPO label smoothing",
                "The share of pairs taken as mislabelled (conservative DPO), below 0.5; 0.",
                0.0,
                0.49,
            ),
        ),
        starts_from=POLICY,
    )
)
method_register(
    TrainingMethod(
        name="rl",
        label="RL against the reward model",
        produces=POLICY,
        module="trainer.ml.rl",
        # Only the prompts are read: the conversations before their replies.
        snapshot_kinds=("sft", "rankings", "preference"),
        metrics=(
            "validation_reward",
            "validation_kl",
            "validation_entropy",
            "validation_reply_length",
            "validation_reward_gain",
            "validation_length_share",
        ),
        counters=("samples", "reply_tokens"),
        # Never scheduled: a run needs an admin's choice of the SFT model to start from.
        retrain_setting="",
        wants_reward_model=True,
        charts=("reward", "kl", "entropy", "reply_length"),
        settings=(
            MethodSetting(
                "kl_coef",
                "KL coefficient",
                "Reward lost per nat of KL to the starting model; 0.05.",
                0.0,
                10.0,
            ),
            MethodSetting(
                "samples_per_prompt",
                "Samples per prompt",
                "Replies sampled per prompt, 2 or more; 4.",
                2,
                64,
                int,
            ),
            MethodSetting(
                "max_new_tokens", "Reply tokens", "Most tokens sampled per reply; 64.", 1, 4096, int
            ),
            MethodSetting(
                "temperature",
                "Temperature",
                "Sampling temperature. The update and the KL are of this tempered distribution, "
                "so sample the trained model at it too; 1 is the model's own.",
                0.05,
                5.0,
            ),
            MethodSetting(
                "eval_prompts",
                "Evaluation prompts",
                "Held-out prompts each evaluation samples from both models.",
                1,
                10_000,
                int,
            ),
        ),
        starts_from=POLICY,
    )
)
