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
    """At most `size` models made by `load`. A model loads under a lock of its own, so two
    requests for it load it once, while requests for models already loaded go on."""

    def __init__(self, size: int, load: Callable[[ModelVersion], Loaded]):
        self.size = size
        self._load = load
        self._models: OrderedDict[tuple[int, str], Loaded] = OrderedDict()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, version: ModelVersion) -> Loaded:
        # The path too: a version id may name other weights in another database.
        key = (version.pk, version.path)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._models:  # loaded by the request this one waited for
                    self._models.move_to_end(key)
                    return self._models[key]
            try:
                loaded = self._load(version)
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:
                # In one step with adding it: a request arriving between the two would
                # find neither the model nor its lock, and load it again.
                self._models[key] = loaded
                self._loading.pop(key, None)
                while len(self._models) > self.size:
                    self._models.popitem(last=False)
            return loaded

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
