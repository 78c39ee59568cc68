"""An AI rater as one call, whatever it is: a model source over HTTP (several requests at
once, up to its `max_concurrency`) or a model version of ours through the inference
process's /v1 (8 at once, sources.own_server), so no worker loads it. Raters answer at
temperature 0 with a fixed seed, so a retried job asks the same question and reads the
same answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ai_feedback.models import AIFeedbackJob
from config.errors import InputError
from sources.client import in_flight
from trainer.reply_sampling import model_origin, source_origin

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
    """The job's rater: its model source through the source's own server, or its model
    version through the inference process's /v1, which loads the model once and batches
    the job's questions with everyone else's requests."""
    if job.source is not None:
        origin = source_origin(job.source, 1)
    elif job.model is not None:
        origin = model_origin(job.model, 1)
    else:
        raise InputError("source", f"The source of {job.rater_name} was deleted.")

    def ask(messages: list[dict[str, str]], max_tokens: int) -> str:
        return origin.client.chat(
            messages, temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=RATER_SEED
        ).replies[0]

    return Rater(ask, origin.at_once)
