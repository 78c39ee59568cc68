"""Checks on what labelers send, each failing with a message that names the problem."""

from django.conf import settings

from config.errors import InputError

ROLES = ("system", "user", "assistant")
# A week: more time than that on one task is a clock gone wrong, not work.
MAX_TIME_SPENT_S = 7 * 24 * 3600


def text_checked(value: object, *, field: str, limited: bool = True) -> str:
    """Non-empty text, within the configured length unless not `limited`; returned as
    given (whitespace kept)."""
    if not isinstance(value, str):
        raise InputError(field, "Must be text.")
    if not value.strip():
        raise InputError(field, "Must not be empty or only whitespace.")
    limit = settings.LABELING_MAX_CHARS
    if limited and len(value) > limit:
        raise InputError(field, f"Is {len(value):,} characters; the limit is {limit:,}.")
    return value


def conversation_checked(
    messages: object, *, field: str = "messages", limited: bool = True
) -> list[dict[str, str]]:
    """An optional system message, then user/assistant turns alternating, ending on a user
    turn. Not `limited`: of any length, for a conversation a model reads (/v1, scores),
    which its context and the body's size bound, not what a person may write."""
    if not isinstance(messages, list) or not messages:
        raise InputError(field, "Must be a non-empty list of {role, content} messages.")
    cleaned: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            raise InputError(where, "Must be an object with only 'role' and 'content'.")
        role = message.get("role")
        if role not in ROLES:
            raise InputError(where, f"Role must be one of {', '.join(ROLES)}, not {role!r}.")
        content = text_checked(message.get("content"), field=where, limited=limited)
        cleaned.append({"role": role, "content": content})
    turns = cleaned[1:] if cleaned[0]["role"] == "system" else cleaned
    if not turns:
        raise InputError(field, "A system message alone is not a prompt: add a user turn.")
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            offset = index + (len(cleaned) - len(turns))
            raise InputError(
                f"{field}[{offset}]",
                f"Expected the {expected} turn here: after an optional system message, user and "
                "assistant turns alternate, starting with the user.",
            )
    if turns[-1]["role"] != "user":
        raise InputError(field, "The conversation must end on a user turn.")
    total = sum(len(m["content"]) for m in cleaned)
    if limited and total > settings.LABELING_MAX_CHARS * 4:
        raise InputError(field, "The conversation is too long.")
    return cleaned


def seconds_checked(value: object, *, field: str = "time_spent_s") -> int:
    """Whole seconds from a form or JSON value, between 0 and a week."""
    try:
        seconds = int(str(value).strip() or 0)
    except ValueError:
        raise InputError(field, "Must be a whole number of seconds.") from None
    if not 0 <= seconds <= MAX_TIME_SPENT_S:
        raise InputError(field, "Must be between 0 and a week in seconds.")
    return seconds
