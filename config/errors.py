"""The errors a request can be refused with, raised by every app and answered the same way.

They live here, below every app, so that guidelines, labeling, rankings, jobs, datasets,
trainer and the dashboard raise them and config/api_errors.py answers them without
knowing which app found the problem: each says its own HTTP status and code. One type for
bad input (`InputError`), one for a state that refuses a valid request (`Conflict`), one
for a service that is down (`Unavailable`); an app subclasses them for its own cases.
"""

from __future__ import annotations


class PlatformError(Exception):
    """A refusal the asker can act on; the message is for the person who asked.

    The API answers `{"detail": detail(), "code": code, **payload()}` with `status`
    (the code left out when empty), and a `Retry-After` header when `retry_after_s` is set.
    """

    status = 400
    code = ""
    retry_after_s: int | None = None

    def detail(self) -> str:
        return str(self)

    def payload(self) -> dict[str, object]:
        return {}


class Conflict(PlatformError):
    """A valid request the current state refuses (a finished job, a lease gone, a
    published version): asking again later, or after something changed, may succeed."""

    status = 409


class Unavailable(PlatformError):
    """A service the request needs (the job queue) is not answering; nothing was kept,
    so the same request may simply be sent again."""

    status = 503
    retry_after_s = 10


class InputError(PlatformError):
    """Bad input: `field` says where, the message says what.

    The one bad-input error of the platform. On `/api/`, config/api_errors.py answers it
    with a 400 `{"detail": "<field>: <message>", "<field>": ["<message>"]}`; HTML pages
    catch it, show the message next to the field (or as a message) and answer 400.
    Raise it for anything a person or client can correct by sending something else,
    never for a bug or a state conflict.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)

    def detail(self) -> str:
        return f"{self.field}: {self}"

    def payload(self) -> dict[str, object]:
        return {self.field: [str(self)]}


class IdempotencyKeyReused(InputError):
    """An Idempotency-Key sent again with a different request: a client bug, never a retry.

    The API answers it with 409 and `"code": "idempotency_key_reused"`.
    """

    status = 409
    code = "idempotency_key_reused"

    def __init__(self, message: str):
        super().__init__("Idempotency-Key", message)

    def detail(self) -> str:
        return str(self)
