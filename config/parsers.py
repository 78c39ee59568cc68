"""Request body parsers for the API: every body is checked once here, before any view.

The database cannot store every string Python can hold: PostgreSQL refuses NUL in text and
jsonb, and a lone surrogate (half of a UTF-16 pair, which JSON can spell as "\\ud800") cannot
be encoded as UTF-8 for either database. Refusing such text at the door, with the field that
held it, is simpler than finding each place it could reach. Nesting is bounded for the same
reason: a deep enough document exhausts the recursion of the decoder or of later code.
"""

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.utils.json import strict_constant

# Deeper than any document the API takes (a conversation is three levels), shallow enough
# that nothing recursive downstream comes near Python's limit.
MAX_JSON_DEPTH = 64

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UnstorableText(APIException):
    """A string the database cannot store; the body names the field that held it."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "unstorable_text"

    def __init__(self, field: str, problem: str):
        message = f"Must not contain {problem}."
        super().__init__({"detail": f"{field}: {message}", field: [message]})


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def text_problem(text: str) -> str | None:
    """What in `text` no database here can store, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character (\\u0000)"
    return f"a lone surrogate (\\u{ord(found.group()):04x}): send text as valid UTF-8"


def _child_path(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _nodes(value: Any, root: str) -> Iterator[tuple[str, Any, int]]:
    """(path, value, depth) of `value` and everything in it, keys included as text.
    Walks with a stack, so depth costs no recursion."""
    stack: list[tuple[str, Any, int]] = [(root, value, 1)]
    while stack:
        path, item, depth = stack.pop()
        yield path, item, depth
        if isinstance(item, dict | list):
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    yield _child_path(path, ascii(key)), key, depth + 1
                stack.append((_child_path(path, key), child, depth + 1))


def unstorable_text_found(value: Any, *, root: str = "") -> tuple[str, str] | None:
    """(where, what) of the first text in `value` no database here can store, or None."""
    for path, item, _ in _nodes(value, root):
        if isinstance(item, str) and (problem := text_problem(item)):
            return path or "body", problem
    return None


def value_checked(value: Any, *, root: str = "") -> Any:
    """`value` as given, after refusing unstorable text in any key or string and nesting
    deeper than MAX_JSON_DEPTH."""
    for path, item, depth in _nodes(value, root):
        if depth > MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(item, str) and (problem := text_problem(item)):
            raise UnstorableText(path or "body", problem)
    return value


def _body_read(stream: Any) -> bytes:
    """The whole body, refused once it passes DATA_UPLOAD_MAX_MEMORY_SIZE (which Django
    applies to forms only: DRF reads JSON from the raw stream)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        raise BodyTooLarge(f"The request body is over {limit:,} bytes.")
    return body


class CheckedJSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        body = _body_read(stream)
        try:
            text = codecs.decode(body, encoding)
            parse_constant = strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except ValueError as exc:  # UnicodeDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from None
        return value_checked(data)


def form_checked(data: QueryDict) -> QueryDict:
    """A form's fields and values checked like JSON text, each named by its field."""
    for key, values in data.lists():
        value_checked({key: None})
        value_checked(values[0] if len(values) == 1 else values, root=key)
    return data


class CheckedFormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return form_checked(super().parse(stream, media_type, parser_context))


class CheckedMultiPartParser(parsers.MultiPartParser):
    """Checks the text fields; uploaded files are the importers' to judge, line by line."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        form_checked(parsed.data)
        return parsed
