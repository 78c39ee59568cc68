"""An AI rater as one call, whatever it is: a model source over HTTP (several requests at
once, up to its `max_concurrency`) or a model version of ours, sampled in the worker one
chat at a time. Raters answer at temperature 0 with a fixed seed, so a retried job asks
the same question and reads the same answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from django.conf import settings

from ai_feedback.models import AIFeedbackJob
from config.errors import InputError
from sources.client import in_flight
from sources.services import source_client

T = TypeVar("T")
Chat = Callable[[list[dict[str, str]], int], str]

# One seed for every question an AI rater is asked (greedy decoding needs none, but a
# server that samples anyway answers the same each time).
RATER_SEED = 20_261_130


@dataclass
class Rater:
    chat: Chat
    at_once: int

    def each(
        self,
        work: Callable[[T], object],
        items: Iterable[T],
        should_stop: Callable[[], bool],
    ) -> Iterator[tuple[T, object, Exception | None]]:
        """(item, result, error) for each item as its work ends."""
        yield from in_flight(work, items, at_once=self.at_once, should_stop=should_stop)


def rater_for(job: AIFeedbackJob) -> Rater:
    if job.source_id is not None:
        source = job.source
        client = source_client(source)  # type: ignore[arg-type]

        def ask_source(messages: list[dict[str, str]], max_tokens: int) -> str:
            return client.chat(
                messages, temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=RATER_SEED
            ).replies[0]

        return Rater(ask_source, source.max_concurrency)  # type: ignore[union-attr]
    if job.model_id is None:
        raise InputError("source", f"The source of {job.rater_name} was deleted.")
    from trainer.ml.generate import Generator, Sampling

    generator = Generator(str(Path(settings.DATA_DIR) / job.model.path))  # type: ignore[union-attr]

    def ask_model(messages: list[dict[str, str]], max_tokens: int) -> str:
        sampling = Sampling(
            k=1, temperature=0.0, top_p=1.0, max_new_tokens=max_tokens, seed=RATER_SEED
        )
        return generator.sample(messages, sampling)[0]

    # One model in one worker process: its calls take turns.
    return Rater(ask_model, 1)
