"""A small client for OpenAI-compatible chat completion servers, on the standard library.

Only what the platform asks of a server: one chat completion with n replies. Connection
errors, timeouts, 429 and 5xx answers are retried with exponential backoff for a bounded
number of attempts; any other 4xx is the request's fault and is raised at once. No error
text ever carries the API key: it is scrubbed from whatever the server sent back too.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# 0.5 s, 1 s, 2 s between four attempts: a server restarting or briefly overloaded gets
# a few seconds, a dead one costs a drafts job seconds per prompt, not minutes.
ATTEMPTS = 4
BACKOFF_S = 0.5
# A Retry-After longer than this is not waited for in full: the attempts are bounded in
# time as well as in number.
MAX_WAIT_S = 10.0
# How much of a server's error body is kept in a message.
DETAIL_CHARS = 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Leaves a 3xx as the error it is: following it would send the Authorization header,
    and so the key, to whatever host the server names."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


# Opens requests without following redirects; the platform's calls to its own inference
# process use it too (trainer.playground).
NO_REDIRECTS = urllib.request.build_opener(_NoRedirects)


class SourceError(Exception):
    """The server could not give a reply. `status` is the HTTP status when one came back;
    `retryable` says whether asking again later may work."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float = 0.0,
    ):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        # What the server's Retry-After asked for (0 when it said nothing).
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Completion:
    replies: list[str]
    finish_reasons: list[str]
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class ChatClient:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    # Makes the key for each attempt instead, for keys that expire (sources.own_server):
    # a retry after a long first attempt must not send a key that has aged past its limit.
    key_made: Callable[[], str] | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    attempts: int = ATTEMPTS
    backoff_s: float = BACKOFF_S

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.8,
        top_p: float = 0.95,
        max_tokens: int = 256,
        n: int = 1,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> Completion:
        body: dict[str, object] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "n": n,
        }
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = stop
        answer = self.post("/chat/completions", body)
        try:
            choices = sorted(answer["choices"], key=lambda c: c.get("index", 0))
            replies = [str(c["message"]["content"] or "") for c in choices]
            reasons = [str(c.get("finish_reason") or "") for c in choices]
        except (KeyError, TypeError, AttributeError) as exc:
            raise SourceError(f"The server's answer is not a chat completion ({exc!r}).") from exc
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        return Completion(replies=replies, finish_reasons=reasons, usage=usage)

    def replies(
        self, messages: list[dict[str, str]], *, k: int, seed: int | None = None, **options
    ) -> list[str]:
        """k replies to one conversation. Asked as n=k; a server that ignores n (Ollama,
        llama.cpp) is asked again, with the next seeds, for the rest."""
        replies: list[str] = []
        for asked in range(k):
            if len(replies) >= k:
                break
            completion = self.chat(
                messages,
                n=k - len(replies),
                seed=None if seed is None else seed + asked,
                **options,
            )
            if not completion.replies:
                raise SourceError("The server answered with no choices.")
            replies.extend(completion.replies)
        return replies[:k]

    def post(self, path: str, body: dict[str, object]) -> dict:
        """The JSON object the server answers to `body` POSTed at base_url + `path`,
        tried again with backoff while the failure may pass (no answer, 429, 5xx)."""
        last: SourceError | None = None
        for attempt in range(max(1, self.attempts)):
            if attempt:
                backoff = self.backoff_s * 2 ** (attempt - 1)
                time.sleep(min(MAX_WAIT_S, max(backoff, last.retry_after_s if last else 0.0)))
            try:
                return self._post_once(path, body)
            except SourceError as exc:
                if not exc.retryable:
                    raise
                last = exc
        assert last is not None
        raise SourceError(
            f"{last} (gave up after {self.attempts} attempts)",
            status=last.status,
            retryable=True,
            retry_after_s=last.retry_after_s,
        )

    def _post_once(self, path: str, body: dict[str, object]) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.key_made() if self.key_made else self.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            self.base_url.rstrip("/") + path,
            data=json.dumps(body).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with NO_REDIRECTS.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except http.client.IncompleteRead as exc:
            raise SourceError(
                f"The answer broke off ({len(exc.partial)} bytes read).", retryable=True
            ) from None
        except http.client.HTTPException as exc:
            raise SourceError(self._scrubbed(f"Not an HTTP answer ({exc!r}).")) from None
        except TimeoutError as exc:
            raise SourceError(
                f"No answer within {self.timeout_s:g} s ({exc}).", retryable=True
            ) from None
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(
                self._scrubbed(f"Could not reach {self.base_url}: {reason}."), retryable=True
            ) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise SourceError("The server's answer is not JSON.") from None
        if not isinstance(answer, dict):
            raise SourceError("The server's answer is not a JSON object.")
        return answer

    def _http_error(self, exc: urllib.error.HTTPError) -> SourceError:
        try:
            text = exc.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        detail = text
        try:
            parsed = json.loads(text)
            # OpenAI's {"error": {"message": ...}}, or a framework's {"detail": ...}.
            error = parsed.get("error") if isinstance(parsed, dict) else None
            if isinstance(error, dict) and error.get("message"):
                detail = str(error["message"])
            elif isinstance(parsed, dict) and parsed.get("detail"):
                detail = str(parsed["detail"])
        except ValueError:
            pass
        status = exc.code
        if 300 <= status < 400:
            # Not followed (see _NoRedirects): the address of the source is for an admin
            # to change, with the key sent again.
            location = exc.headers.get("Location", "") if exc.headers else ""
            return SourceError(
                self._scrubbed(
                    f"HTTP {status}: the server redirects to {location[:DETAIL_CHARS]!r}; "
                    "redirects are not followed, set the source's base_url to it."
                ),
                status=status,
            )
        retry_after = (exc.headers.get("Retry-After") or "").strip() if exc.headers else ""
        return SourceError(
            self._scrubbed(f"HTTP {status}: {detail[:DETAIL_CHARS].strip() or exc.reason}"),
            status=status,
            retryable=status == 429 or status >= 500,
            retry_after_s=float(retry_after) if _digits(retry_after) else 0.0,
        )

    def _scrubbed(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text


def _digits(text: str) -> bool:
    """Only 0-9: str.isdigit() also holds for "²", which int() and float() refuse."""
    return text.isascii() and text.isdigit()


def in_flight(
    work: Callable[[T], R],
    items: Iterable[T],
    *,
    at_once: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[T, R | None, Exception | None]]:
    """Runs `work` on each item with at most `at_once` calls in flight, and yields
    (item, result, None) or (item, None, error) as each call ends, in the order they end.
    Once `should_stop()` says so, no new call starts; those in flight are waited for."""
    pending: dict[Future, T] = {}
    todo = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="source") as pool:
        while True:
            while len(pending) < max(1, at_once) and not should_stop():
                item = next(todo, _END)
                if item is _END:
                    break
                pending[pool.submit(work, item)] = item  # type: ignore[arg-type]
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                error = future.exception()
                if error is None:
                    yield item, future.result(), None
                else:
                    yield item, None, error  # type: ignore[misc]


_END = object()
