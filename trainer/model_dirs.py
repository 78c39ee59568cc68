"""The local model directories a deployment offers as bases (the MODEL_DIRS setting), each
described from its config.json alone: the run form lists them without loading weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from trainer.ml.defaults import architecture, base_defaults, parameters_estimated


@dataclass(frozen=True)
class LocalBase:
    path: str
    # DECODER or ENCODER (trainer.ml.defaults); None when config.json does not say.
    architecture: str | None
    parameters: int | None
    # What a run from it gets when it sets no learning rate.
    lr: float
    # Whether config.json is there: a directory missing it would be refused as a base.
    usable: bool

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def size(self) -> str:
        if self.parameters is None:
            return "size unknown"
        if self.parameters >= 1_000_000_000:
            return f"about {self.parameters / 1e9:.1f}B parameters"
        # A decimal place for small models, so a tiny one does not read as 0M.
        digits = 0 if self.parameters >= 10_000_000 else 1
        return f"about {self.parameters / 1e6:.{digits}f}M parameters"


def local_bases() -> list[LocalBase]:
    """The MODEL_DIRS directories, in the order the setting gives them."""
    return [local_base(Path(folder)) for folder in settings.MODEL_DIRS]


def local_base(folder: Path) -> LocalBase:
    return LocalBase(
        path=str(folder),
        architecture=architecture(folder),
        parameters=parameters_estimated(folder),
        lr=base_defaults(str(folder))["lr"],
        usable=(folder / "config.json").is_file(),
    )
