"""Candidates from model sources, asked for ahead: every source gets all of a job's prompts
at once, `max_concurrency` requests in flight each, while the worker samples its own model;
the job then takes each prompt's replies in order."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from config.errors import InputError
from sources.models import ModelSource
from sources.services import source_client


class SourceSampling:
    """Use as a context manager: leaving it cancels the requests not started yet."""

    def __init__(
        self,
        entries: list[dict],
        prompts: dict[int, list[dict[str, str]]],
        *,
        seed_of,  # (prompt id) -> int
        temperature: float,
        top_p: float,
        max_tokens: int,
    ):
        found = ModelSource.objects.in_bulk([e["source"] for e in entries])
        gone = [e["name"] for e in entries if e["source"] not in found]
        if gone:
            raise InputError("sources", f"The source {gone[0]} was deleted.")
        self._pools: list[ThreadPoolExecutor] = []
        # (entry index, prompt id) -> its replies
        self._asked: dict[tuple[int, int], Future] = {}
        self._labels = [found[e["source"]].label for e in entries]
        for index, entry in enumerate(entries):
            source = found[entry["source"]]
            client = source_client(source)
            pool = ThreadPoolExecutor(
                max_workers=source.max_concurrency, thread_name_prefix=f"source-{source.pk}"
            )
            self._pools.append(pool)
            for prompt_id, messages in prompts.items():
                self._asked[index, prompt_id] = pool.submit(
                    client.replies,
                    messages,
                    k=entry["k"],
                    seed=seed_of(prompt_id),
                    temperature=temperature,
                    top_p=top_p,
                    max_tokens=max_tokens,
                )

    def __enter__(self) -> SourceSampling:
        return self

    def __exit__(self, *exc: object) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def replies(self, prompt_id: int) -> list[tuple[str, str]]:
        """(reply, source label) for every source, waiting for those still asking; the
        first source's error is raised, prefixed with its label."""
        found: list[tuple[str, str]] = []
        for index, label in enumerate(self._labels):
            try:
                found.extend((r, label) for r in self._asked[index, prompt_id].result())
            except Exception as exc:
                raise SourceFailed(f"{label}: {type(exc).__name__}: {exc}") from exc
        return found


class SourceFailed(Exception):
    """A source could not give a prompt its replies."""
