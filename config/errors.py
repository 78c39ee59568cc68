"""The platform's one error for bad input, raised by every app and answered the same way.

It lives here, below every app, so that guidelines, labeling, rankings, trainer and the
dashboard raise one type and nothing needs to know which app found the problem.
"""


class InputError(Exception):
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


class IdempotencyKeyReused(InputError):
    """An Idempotency-Key sent again with a different request: a client bug, never a retry.

    The API answers it with 409 and `"code": "idempotency_key_reused"`.
    """

    def __init__(self, message: str):
        super().__init__("Idempotency-Key", message)
