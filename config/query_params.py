"""Query parameters of list endpoints, checked: a value outside its choices is a 400 naming
the parameter, never an empty list that looks like "nothing matched"."""

from collections.abc import Iterable

from rest_framework.request import Request

from config.errors import InputError


def choice_param(request: Request, name: str, choices: Iterable[str]) -> str | None:
    """The parameter's value, one of `choices`, or None when it is absent or empty."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    allowed = list(choices)
    if value not in allowed:
        raise InputError(name, f"One of: {', '.join(allowed)}.")
    return value
