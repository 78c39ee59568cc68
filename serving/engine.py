"""The models of the inference process: the SERVING_MODELS_KEPT most recently used stay
loaded, each with its own scheduler thread batching every request for it.

Loading takes far longer than a reply, so each model is loaded once: a request for a model
being loaded waits on that model's lock, while requests for other models go on."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from trainer.models import ModelVersion

if TYPE_CHECKING:
    from trainer.ml.batched import BatchedGenerator


class Engine:
    def __init__(self) -> None:
        self._models: OrderedDict[tuple[int, str], BatchedGenerator] = OrderedDict()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def generator_for(self, version: ModelVersion) -> BatchedGenerator:
        key = (version.pk, version.path)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            # Imported here: only the process that runs models loads torch.
            from trainer.ml.batched import BatchedGenerator

            generator = BatchedGenerator(
                Path(settings.DATA_DIR) / version.path, max_batch=settings.SERVING_MAX_BATCH
            )
            with self._lock:
                self._models[key] = generator
                self._loading.pop(key, None)
                while len(self._models) > settings.SERVING_MODELS_KEPT:
                    self._models.popitem(last=False)[1].close()
            return generator

    def loaded(self) -> list[BatchedGenerator]:
        with self._lock:
            return list(self._models.values())

    def clear(self) -> None:
        with self._lock:
            for generator in self._models.values():
                generator.close()
            self._models.clear()


# One per process; only a process with SERVING_IN_PROCESS fills it.
engine = Engine()
