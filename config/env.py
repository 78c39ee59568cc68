"""Typed readers for settings that come from the environment.

Each helper raises ImproperlyConfigured naming the variable when its value cannot be
understood, so a typo in a deployment stops start-up instead of silently falling back
to a default.
"""

import json
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None else value


def env_optional_str(name: str) -> str | None:
    return _raw(name)


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of {sorted(_TRUE | _FALSE)}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}")
    return number


def env_optional_float(name: str) -> float | None:
    value = _raw(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_paths(name: str) -> list[Path]:
    """Paths separated by ":" (as PATH is), or a JSON array of strings for paths that
    hold a colon themselves; each expanded and made absolute. Unset: none."""
    value = _raw(name)
    if value is None:
        return []
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} starts with [ but is not JSON") from None
        if not all(isinstance(item, str) for item in items):
            raise ImproperlyConfigured(f"{name} must be a JSON array of strings")
    else:
        items = value.split(os.pathsep)
    return [Path(item.strip()).expanduser().resolve() for item in items if item.strip()]


def env_path(name: str, default: Path) -> Path:
    value = _raw(name)
    return (Path(value) if value is not None else default).expanduser().resolve()


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value
