"""Checkpoints of a training run: written whole or not at all, the newest few kept, and
loaded back by a run that resumes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from torch import nn

CHECKPOINTS_KEPT = 2


def checkpoint_save(output: Path, step: int, module, optimizer, history) -> Path:
    """Written under a temporary name and renamed, so a crash mid-write never leaves a
    checkpoint that looks complete."""
    folder = output / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:08d}"
    partial = folder / f".partial-{step:08d}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    state = {
        "module": _trained_state(module),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "history": history,
        "rng": torch.get_rng_state(),
    }
    torch.save(state, partial / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    for old in sorted(folder.glob("step-*"))[:-CHECKPOINTS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoint_latest(output: Path) -> Path | None:
    found = sorted((output / "checkpoints").glob("step-*"))
    return found[-1] if found else None


def checkpoint_resumed(
    output: Path, module: nn.Module, optimizer, device
) -> tuple[int, list[dict]]:
    """The step and history of the newest checkpoint, loaded into module and optimizer;
    (0, []) when there is none."""
    saved = checkpoint_latest(output)
    if saved is None:
        return 0, []
    state = torch.load(saved / "state.pt", map_location=device, weights_only=False)
    missing, unexpected = module.load_state_dict(state["module"], strict=False)
    untrained = set(_frozen(module))
    if unexpected or not set(missing) <= untrained:
        raise RuntimeError(
            f"Checkpoint {saved} does not fit the model: missing {sorted(set(missing) - untrained)}"
            f", unexpected {sorted(unexpected)}."
        )
    optimizer.load_state_dict(state["optimizer"])
    # Saved from the CPU generator; map_location may have moved it to a GPU.
    torch.set_rng_state(state["rng"].cpu())
    return state["step"], state["history"]


def _frozen(module: nn.Module) -> list[str]:
    return [name for name, parameter in module.named_parameters() if not parameter.requires_grad]


def _trained_state(module: nn.Module) -> dict:
    """The module's state less its frozen weights: a LoRA run's base, many times the size of
    its adapters, is left out, as the run that resumes loads the same base (from the same
    directory, or built from the same seed) before it reads the checkpoint."""
    frozen = set(_frozen(module))
    return {name: value for name, value in module.state_dict().items() if name not in frozen}


class CheckpointClock:
    """When the loop writes a checkpoint besides a suspension: every `checkpoint_every`
    steps, and once `checkpoint_every_s` seconds passed since the last one."""

    def __init__(self, *, every: int, every_s: float):
        self.every, self.every_s = every, every_s
        self.last = time.monotonic()

    def step_due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0

    def time_due(self) -> bool:
        return bool(self.every_s) and time.monotonic() - self.last >= self.every_s

    def written(self) -> None:
        self.last = time.monotonic()
