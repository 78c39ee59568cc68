"""The models of the inference process: the SERVING_MODELS_KEPT most recently used stay
loaded, each with its own scheduler thread batching every request for it.

Loading takes far longer than a reply, so each model is loaded once: a request for a model
being loaded waits on that model's lock, while requests for other models go on.

Room is made before a model loads, so no more than SERVING_MODELS_KEPT sit in memory at
once but for those still finishing requests: an unloaded model answers what it was already
asked before it goes, and an idle model leaves before a busy one."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from serving.errors import InferenceUnavailable
from trainer.models import ModelVersion

if TYPE_CHECKING:
    from trainer.ml.batched import BatchedGenerator

logger = logging.getLogger(__name__)


class Engine:
    def __init__(self) -> None:
        self._models: OrderedDict[tuple[int, str], BatchedGenerator] = OrderedDict()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def generator_for(self, version: ModelVersion) -> BatchedGenerator:
        key = (version.pk, version.path)
        with self._lock:
            self._drop_dead()
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                self._drop_dead()
                if key in self._models:
                    return self._models[key]
                self._evict(settings.SERVING_MODELS_KEPT - 1)
            # Imported here: only the process that runs models loads torch.
            from trainer.ml.batched import BatchedGenerator

            generator = BatchedGenerator(
                Path(settings.DATA_DIR) / version.path, max_batch=settings.SERVING_MAX_BATCH
            )
            with self._lock:
                self._models[key] = generator
                self._loading.pop(key, None)
                # Others loaded meanwhile may have filled the room made above.
                self._evict(settings.SERVING_MODELS_KEPT)
            return generator

    def _drop_dead(self) -> None:
        """Forget generators that no longer answer (their scheduler failed or was closed):
        the next request for that model loads it again."""
        for key in [key for key, generator in self._models.items() if not generator.alive]:
            del self._models[key]

    def _evict(self, room: int) -> None:
        """Close the least recently used until at most `room` are kept, idle ones first;
        a closed one still answers what it was already asked."""
        while len(self._models) > room:
            idle = [key for key, generator in self._models.items() if not generator.busy]
            key = idle[0] if idle else next(iter(self._models))
            self._models.pop(key).close()

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


def unloadable(version: ModelVersion) -> InferenceUnavailable:
    """A 503 for a model whose files are gone or are not a model transformers reads. Why is
    logged here, not answered: the reason names paths on the inference host, which a
    caller of /v1 has no business reading."""
    logger.exception("Loading model version %s (%s) failed", version.pk, version.path)
    return InferenceUnavailable(
        f"The model {version.name} cannot be loaded; the inference process's log says why."
    )


def generator_loaded(version: ModelVersion) -> BatchedGenerator:
    """The generative model, loaded once and kept; a 503 when it cannot be."""
    try:
        return engine.generator_for(version)
    except OSError:
        raise unloadable(version) from None
