"""The platform's own inference process (`/v1` on INFERENCE_URL) as a model source, and
as the scorer of replies with our reward models.

A drafts or generation job asking one of our model versions for replies calls /v1 over
HTTP like any program does, so the model is loaded once, in the inference process, and
concurrent requests share its batches; the worker never loads it. No user's token should
sit in a worker for that: the platform signs a short-lived key with SECRET_KEY instead,
one per request attempt, which /v1 accepts (serving.access)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from django.conf import settings
from django.core import signing

from sources.client import ATTEMPTS, ChatClient, SourceError

# Tells an internal key from an API token before any database lookup.
INTERNAL_PREFIX = "platform."
INTERNAL_SALT = "serving.internal"
INTERNAL_SIGNER = "platform"
# Checked when a request arrives, and each request signs its own: a little time is
# enough, with a margin for clocks a little apart between hosts.
INTERNAL_KEY_MAX_AGE_S = 300
# Requests in flight to the inference process for one job (drafts, generation): enough
# for its engine to batch them (continuous batching takes each as a decoding step frees
# room), few enough that a playground or /v1 request arriving meanwhile is not queued far
# behind.
OWN_REQUESTS_AT_ONCE = 8
# Beyond the inference process's own deadline (SERVING_DEADLINE_S): it answers 504 itself
# before the client gives up.
OWN_SERVER_MARGIN_S = 30
# The most (prompt, reply) pairs one request asks the inference process to score: a
# best-of-n prompt's replies (at most 16) with room to spare, in a bounded time for the
# one thread that scores them.
SCORED_PER_REQUEST = 64

Item = tuple[list[dict[str, str]], str]  # a prompt and a reply to it


class InternalKeyRefused(Exception):
    """The key looks internal but is not one the platform signed, or is too old."""


def internal_key() -> str:
    """A key that lets the platform's own processes call /v1 for INTERNAL_KEY_MAX_AGE_S."""
    return INTERNAL_PREFIX + signing.dumps(INTERNAL_SIGNER, salt=INTERNAL_SALT)


def is_internal(key: str) -> bool:
    return key.startswith(INTERNAL_PREFIX)


def internal_key_checked(key: str) -> None:
    """Raises InternalKeyRefused unless `key` came from internal_key() recently."""
    try:
        signer = signing.loads(
            key.removeprefix(INTERNAL_PREFIX), salt=INTERNAL_SALT, max_age=INTERNAL_KEY_MAX_AGE_S
        )
    except signing.SignatureExpired:
        raise InternalKeyRefused("Internal key expired.") from None
    except signing.BadSignature:
        raise InternalKeyRefused("Invalid token.") from None
    if signer != INTERNAL_SIGNER:
        raise InternalKeyRefused("Invalid token.")


def own_client(model_name: str) -> ChatClient:
    """A client of our own /v1 for the model version named `model_name`, signing a fresh
    internal key for every attempt. Waits as long as the inference process may take to
    answer (it loads the model first on a cold start)."""
    return ChatClient(
        base_url=settings.INFERENCE_URL.rstrip("/") + "/v1",
        model=model_name,
        key_made=internal_key,
        timeout_s=settings.SERVING_DEADLINE_S + OWN_SERVER_MARGIN_S,
    )


def own_scores(
    model_id: int,
    items: list[Item],
    *,
    timeout_s: float | None = None,
    attempts: int = ATTEMPTS,
    per_request: int = SCORED_PER_REQUEST,
    deadline: float | None = None,
) -> list[float | None]:
    """The scores the reward model version `model_id` gives each (prompt, reply), in
    order, from the inference process (serving.scoring), which loads the model once for
    every job that asks; None where it gave no finite number. SourceError when it cannot
    answer: each request of at most `per_request` pairs is tried `attempts` times, waiting
    `timeout_s` for an answer (by default as long as the inference process may take), and
    never past `deadline` (time.monotonic()), when one is given: then each is tried once,
    as a second attempt would begin after the first's wait."""
    if deadline is not None and attempts != 1:
        raise ValueError("A deadline is kept by requests tried once: attempts=1.")
    timeout = timeout_s or settings.SERVING_DEADLINE_S + OWN_SERVER_MARGIN_S
    found: list[float | None] = []
    for chunk in _request_sized(items, min(per_request, SCORED_PER_REQUEST)):
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise SourceError("Ran out of time before every reply was scored.")
        client = ChatClient(
            base_url=settings.INFERENCE_URL,
            model="",
            key_made=internal_key,
            timeout_s=timeout,
            attempts=attempts,
        )
        asked = [{"prompt": prompt, "reply": reply} for prompt, reply in chunk]
        scores = client.post(f"/internal/scores/{model_id}", {"items": asked}).get("scores")
        if not isinstance(scores, list) or len(scores) != len(chunk):
            raise SourceError("The inference process did not answer one score per reply.")
        if not all(s is None or type(s) in (int, float) for s in scores):
            raise SourceError("The inference process answered a score that is not a number.")
        found.extend(None if s is None else float(s) for s in scores)
    return found


def _request_sized(items: list[Item], per_request: int) -> Iterator[list[Item]]:
    """`items` in runs of at most `per_request` whose bodies stay within half of what a
    request may carry (long conversations are repeated with every reply)."""
    budget = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 2
    chunk: list[Item] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item))
        if chunk and (len(chunk) == per_request or size + item_size > budget):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk
