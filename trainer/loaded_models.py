"""Model versions kept loaded in a process: loading takes far longer than using a model,
so the last few used stay in memory, least recently used unloaded first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from django.conf import settings

from trainer.models import ModelVersion

if TYPE_CHECKING:
    from trainer.ml.reward import RewardScorer

Loaded = TypeVar("Loaded")


class LoadedModels(Generic[Loaded]):
    """At most `size` models made by `load`; loads happen under a lock, so two requests
    for one model load it once."""

    def __init__(self, size: int, load: Callable[[ModelVersion], Loaded]):
        self.size = size
        self._load = load
        self._models: OrderedDict[tuple[int, str], Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: ModelVersion) -> Loaded:
        # The path too: a version id may name other weights in another database.
        key = (version.pk, version.path)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            self._models[key] = self._load(version)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return self._models[key]

    def loaded(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


def reward_scorer_load(version: ModelVersion) -> RewardScorer:
    # Imported here: only a process that scores loads torch.
    from trainer.ml.reward import RewardScorer

    # At the length it was trained at, saved with it: the scores its evaluation saw.
    return RewardScorer(Path(settings.DATA_DIR) / version.path)
