"""A generation job's replies, asked for ahead over HTTP: its model version through the
inference process's /v1 (sources.own_server) and each model source through its own
server, every origin getting all of the job's prompts at once with its own number of
requests in flight; the job then takes each prompt's replies in order."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from config.errors import InputError
from sources.client import ChatClient
from sources.models import ModelSource
from sources.own_server import OWN_REQUESTS_AT_ONCE, own_client
from sources.services import source_client
from trainer.models import ModelVersion


@dataclass(frozen=True)
class Origin:
    """Where k replies per prompt come from, and the name each is filed under."""

    label: str
    client: ChatClient
    k: int
    at_once: int


def model_origin(model: ModelVersion, k: int) -> Origin:
    """A model version of ours, through the inference process's /v1."""
    return Origin(model.name, own_client(model.name), k, OWN_REQUESTS_AT_ONCE)


def source_origin(source: ModelSource, k: int) -> Origin:
    """A model source, through its own server, at most its own requests at once."""
    return Origin(source.label, source_client(source), k, source.max_concurrency)


def origins_of(model: ModelVersion | None, model_k: int, entries: list[dict]) -> list[Origin]:
    """The job's model version first (when it samples any), then its sources in order.
    `entries` are the job's source entries, each with its `k`."""
    found = ModelSource.objects.in_bulk([e["source"] for e in entries])
    gone = [e["name"] for e in entries if e["source"] not in found]
    if gone:
        raise InputError("sources", f"The source {gone[0]} was deleted.")
    origins = [model_origin(model, model_k)] if model is not None and model_k > 0 else []
    return origins + [source_origin(found[e["source"]], e["k"]) for e in entries]


# Apart from one another: two origins that are the same model behind different names (our
# version, and our own /v1 registered as a source) sample different replies.
ORIGIN_SEED_STRIDE = 1_000_003


class ReplySampling:
    """Use as a context manager: leaving it cancels the requests not started yet."""

    def __init__(
        self,
        origins: list[Origin],
        prompts: dict[int, list[dict[str, str]]],
        *,
        seed_of: Callable[[int], int],  # a prompt's seed, from its id
        temperature: float,
        top_p: float,
        max_tokens: int,
    ):
        self._labels = [origin.label for origin in origins]
        self._seed_of = seed_of
        self._pools: list[ThreadPoolExecutor] = []
        # (origin index, prompt id) -> its replies
        self._asked: dict[tuple[int, int], Future] = {}
        for index, origin in enumerate(origins):
            pool = ThreadPoolExecutor(
                max_workers=origin.at_once, thread_name_prefix=f"replies-{index}"
            )
            self._pools.append(pool)
            for prompt_id, messages in prompts.items():
                self._asked[index, prompt_id] = pool.submit(
                    origin.client.replies,
                    messages,
                    k=origin.k,
                    seed=self._origin_seed(index, prompt_id),
                    temperature=temperature,
                    top_p=top_p,
                    max_tokens=max_tokens,
                )

    def __enter__(self) -> ReplySampling:
        return self

    def __exit__(self, *exc: object) -> None:
        # Every origin's waiting requests are cancelled before any in flight is waited
        # for: a job that stopped sends no more prompts to any source, paid ones included.
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for pool in self._pools:
            pool.shutdown(wait=True)

    def _origin_seed(self, index: int, prompt_id: int) -> int:
        return (self._seed_of(prompt_id) + index * ORIGIN_SEED_STRIDE) % 2**63

    def seeds(self, prompt_id: int) -> dict[str, int]:
        """The seed each origin (by label) samples the prompt with."""
        return {label: self._origin_seed(i, prompt_id) for i, label in enumerate(self._labels)}

    def replies(self, prompt_id: int) -> list[tuple[str, str]]:
        """(reply, origin label) for every origin, waiting for those still asking; the
        first origin's error is raised, prefixed with its label."""
        found: list[tuple[str, str]] = []
        for index, label in enumerate(self._labels):
            try:
                found.extend((r, label) for r in self._asked[index, prompt_id].result())
            except Exception as exc:
                raise SamplingFailed(f"{label}: {type(exc).__name__}: {exc}") from exc
        return found


class SamplingFailed(Exception):
    """An origin could not give a prompt its replies."""
