"""POST /v1/chat/completions: the request checked, run on the engine, answered whole or as
server-sent events, in OpenAI's shapes."""

from __future__ import annotations

import json
import queue
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from config.errors import InputError
from labeling.validation import conversation_checked
from serving.engine import generator_loaded
from serving.errors import BadRequest, DeadlinePassed, InferenceUnavailable
from serving.selectors import servable_model
from trainer.ml.sampling import MAX_TEMPERATURE, MAX_TOTAL_TOKENS
from trainer.models import ModelVersion

if TYPE_CHECKING:
    from trainer.ml.batched import Ticket

MAX_N = 16
MAX_STOPS = 4
# Without max_tokens a reply may run this long (or to the model's context, if shorter).
DEFAULT_MAX_TOKENS = 256
# More characters per token than any tokenizer's longest pieces reach: a prompt longer
# than this many per position the model reads is too long whatever its text.
MAX_CHARS_PER_TOKEN = 32
MAX_TOKENS = 32_768
# A request that has had no new token for this long has lost its model.
PIECE_WAIT_S = 300.0


@dataclass(frozen=True)
class Ask:
    version: ModelVersion
    messages: list[dict[str, str]]
    stream: bool
    include_usage: bool
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    stop: tuple[str, ...]


def number_checked(
    body: dict, name: str, default: Any, low: float, high: float, *, whole: bool
) -> Any:
    """body[name]: a number from low to high (an integer when `whole`), or `default` when
    it is missing or null; BadRequest naming it otherwise."""
    value = body.get(name)
    if value is None:
        return default
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if whole else "a number"
        raise BadRequest(f"{name} must be {kind} between {low} and {high}.", param=name)
    return value


def _stops(value: object) -> tuple[str, ...]:
    stops = [value] if isinstance(value, str) else value
    if value is None:
        return ()
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise BadRequest(f"stop is a string or a list of at most {MAX_STOPS}.", param="stop")
    return tuple(stops)


def _text(content: object) -> object:
    """A message's content: a string, or OpenAI's list of parts, whose text parts join."""
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" for part in content
    ):
        return "".join(str(part.get("text", "")) for part in content)
    return content


def _messages(value: object) -> list[dict[str, str]]:
    # OpenAI's messages may carry more than role and content ("name"): only those two count.
    if isinstance(value, list):
        value = [
            {"role": m.get("role"), "content": _text(m.get("content"))}
            if isinstance(m, dict)
            else m
            for m in value
        ]
    try:
        # An AI rater's question holds a whole guideline and every reply: longer than a
        # labeler's message may be, and the model's context is what bounds it.
        return conversation_checked(value, limited=False)
    except InputError as exc:
        raise BadRequest(exc.detail(), param="messages") from None


def ask_parsed(raw: bytes) -> Ask:
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The body is a JSON object.")
    if not isinstance(body.get("model"), str):
        raise BadRequest("model is required: a name from GET /v1/models.", param="model")
    messages = _messages(body.get("messages"))
    stream = body.get("stream") or False
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise BadRequest("stream is true or false.", param="stream")
    max_tokens = number_checked(
        {"max_tokens": body.get("max_completion_tokens", body.get("max_tokens"))},
        "max_tokens",
        DEFAULT_MAX_TOKENS,
        1,
        MAX_TOKENS,
        whole=True,
    )
    n = number_checked(body, "n", 1, 1, MAX_N, whole=True)
    if n * max_tokens > MAX_TOTAL_TOKENS:
        raise BadRequest(
            f"n times max_tokens is {n * max_tokens:,}; at most {MAX_TOTAL_TOKENS:,} are decoded "
            "for one request.",
            param="max_tokens",
        )
    return Ask(
        version=servable_model(body["model"]),
        messages=messages,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        n=n,
        temperature=number_checked(body, "temperature", 1.0, 0.0, MAX_TEMPERATURE, whole=False),
        # 0 keeps only the most likely token, as the smallest positive value does.
        top_p=max(number_checked(body, "top_p", 1.0, 0.0, 1.0, whole=False), 1e-6),
        max_tokens=max_tokens,
        seed=number_checked(body, "seed", None, 0, 2**63 - 1, whole=True),
        stop=_stops(body.get("stop")),
    )


@dataclass
class Started:
    """A request on its way: the ticket its pieces come on, and what the answer names."""

    ticket: Ticket
    prompt_tokens: int
    id: str
    created: int
    model: str
    # time.monotonic() past which a whole answer is given up; None for a stream, which
    # ends when its client leaves.
    deadline: float | None = None


def ask_start(ask: Ask) -> Started:
    from trainer.ml.batched import ChatRequest

    generator = generator_loaded(ask.version)
    characters = sum(len(message["content"]) for message in ask.messages)
    if characters > generator.max_positions * MAX_CHARS_PER_TOKEN:
        # Refused before the tokenizer spends a request thread's time on it.
        raise BadRequest(
            f"The prompt is {characters:,} characters: far more than the "
            f"{generator.max_positions - 1} tokens this model reads.",
            param="messages",
        )
    prompt_ids = generator.prompt_ids(ask.messages)
    request = ChatRequest(
        prompt_ids=prompt_ids,
        n=ask.n,
        temperature=ask.temperature,
        top_p=ask.top_p,
        max_tokens=ask.max_tokens,
        seed=ask.seed,
        stop=ask.stop,
    )
    try:
        try:
            ticket = generator.submit(request)
        except RuntimeError:
            # Unloaded since it was handed out, to make room for another model: the
            # engine loads it again.
            ticket = generator_loaded(ask.version).submit(request)
    except ValueError as exc:
        raise BadRequest(str(exc), param="messages") from None
    except RuntimeError as exc:
        raise InferenceUnavailable(str(exc)) from None
    return Started(
        ticket=ticket,
        prompt_tokens=len(prompt_ids),
        id=f"chatcmpl-{secrets.token_hex(12)}",
        created=int(time.time()),
        model=ask.version.name,
        deadline=None if ask.stream else time.monotonic() + settings.SERVING_DEADLINE_S,
    )


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _pieces(started: Started) -> Iterator[Any]:
    try:
        for piece in started.ticket.stream(timeout_s=_wait_s(started)):
            yield piece
            _wait_s(started)
    except queue.Empty:
        started.ticket.cancel()  # nobody will read it: the scheduler may drop it
        raise InferenceUnavailable("The model stopped answering.") from None
    except RuntimeError as exc:
        raise InferenceUnavailable(str(exc)) from None


def _wait_s(started: Started) -> float:
    """How long to wait for the next piece; past the deadline the request is cancelled,
    so that nobody's decoding runs on for a client that has given up."""
    if started.deadline is None:
        return PIECE_WAIT_S
    left = started.deadline - time.monotonic()
    if left <= 0:
        started.ticket.cancel()
        raise DeadlinePassed(
            f"No whole answer within {settings.SERVING_DEADLINE_S} s: ask for fewer tokens "
            "or stream the reply."
        )
    return min(PIECE_WAIT_S, left)


def answer_whole(started: Started) -> dict[str, Any]:
    n = started.ticket.request.n
    texts, finishes, completion_tokens = [""] * n, [""] * n, 0
    for piece in _pieces(started):
        texts[piece.index] += piece.text
        if piece.finish_reason:
            finishes[piece.index] = piece.finish_reason
            completion_tokens += piece.completion_tokens
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": texts[i]},
            "logprobs": None,
            "finish_reason": finishes[i],
        }
        for i in range(n)
    ]
    return {
        "id": started.id,
        "object": "chat.completion",
        "created": started.created,
        "model": started.model,
        "choices": choices,
        "usage": _usage(started.prompt_tokens, completion_tokens),
    }


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def answer_events(started: Started, *, include_usage: bool) -> Iterator[bytes]:
    """Server-sent events: a chunk naming the role for each choice, one per new piece of
    text, the finish reasons, then `data: [DONE]`. Stopping the iteration (the client went
    away) stops decoding for this request."""
    head = {
        "id": started.id,
        "object": "chat.completion.chunk",
        "created": started.created,
        "model": started.model,
    }

    def chunk(index: int, delta: dict[str, str], finish: str | None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event({**head, "choices": [choice]})

    completion_tokens = 0
    try:
        for index in range(started.ticket.request.n):
            yield chunk(index, {"role": "assistant", "content": ""}, None)
        for piece in _pieces(started):
            if piece.text:
                yield chunk(piece.index, {"content": piece.text}, None)
            if piece.finish_reason:
                completion_tokens += piece.completion_tokens
                yield chunk(piece.index, {}, piece.finish_reason)
        if include_usage:
            yield _event(
                {**head, "choices": [], "usage": _usage(started.prompt_tokens, completion_tokens)}
            )
    except InferenceUnavailable as exc:
        yield _event(json.loads(exc.response().content))
    finally:
        started.ticket.cancel()
    yield b"data: [DONE]\n\n"
