"""Writes for model sources, and the one call that checks a source answers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from config.errors import Conflict, InputError
from sources.client import ChatClient, SourceError
from sources.models import ModelSource

EDITABLE = ("name", "base_url", "model", "api_key", "max_concurrency", "timeout_s")
# A check is one short question: it should tell at once, not after the retries and the
# full timeout a drafts job allows itself.
CHECK_TIMEOUT_S = 15.0
CHECK_QUESTION = [{"role": "user", "content": "Say OK."}]


class SourceNameTaken(Conflict):
    code = "source_name_taken"


def host_allowed(url: str) -> bool:
    """Whether MODEL_SOURCE_HOSTS lets a source reach `url`'s host: any when it is empty,
    else a host named in it, or under a "*.domain" it names."""
    allowed = [h.strip().lower() for h in settings.MODEL_SOURCE_HOSTS if h.strip()]
    server = _server_of(url)
    if not allowed or server is None:
        return not allowed
    host = server[1].lower().rstrip(".")
    if "%" in host:
        # urlsplit leaves a percent-escape in the host that the HTTP client then decodes:
        # "evil.com%2Fx.lan" must not pass for a host under ".lan".
        return False
    return any(
        host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
        for pattern in allowed
    )


def source_client(source: ModelSource, **options: object) -> ChatClient:
    """The client that talks to `source`, with its key and its timeout. A source saved
    before MODEL_SOURCE_HOSTS left its host out is refused here, where it is used."""
    if not host_allowed(source.base_url):
        raise SourceError(f"Source {source.name}: its host is not in MODEL_SOURCE_HOSTS.")
    chosen: dict[str, object] = {"timeout_s": source.timeout_s, **options}
    return ChatClient(
        base_url=source.base_url,
        model=source.model,
        api_key=source.api_key,
        **chosen,  # type: ignore[arg-type]
    )


def _text_checked(fields: dict[str, object], name: str, longest: int, message: str) -> None:
    if name in fields:
        value = str(fields[name] or "").strip()
        if not value or len(value) > longest:
            raise InputError(name, message)
        fields[name] = value


def _checked(fields: dict[str, object]) -> dict[str, object]:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise InputError(sorted(unknown)[0], "Not a field of a model source.")
    _text_checked(fields, "name", 100, "Between 1 and 100 characters.")
    _text_checked(fields, "model", 200, "The model name the server knows (1 to 200 characters).")
    if "base_url" in fields:
        url = str(fields["base_url"] or "").strip()
        if _server_of(url) is None or len(url) > 500:
            raise InputError("base_url", "An http:// or https:// address, e.g. http://host/v1.")
        if not host_allowed(url):
            raise InputError("base_url", "Not a host model sources may use (MODEL_SOURCE_HOSTS).")
        fields["base_url"] = url.rstrip("/")
    if "max_concurrency" in fields:
        value = fields["max_concurrency"]
        if type(value) is not int or not 1 <= value <= 64:
            raise InputError("max_concurrency", "Between 1 and 64 requests at once.")
    if "timeout_s" in fields:
        value = fields["timeout_s"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 3600:
            raise InputError("timeout_s", "Between 1 and 3600 seconds.")
        fields["timeout_s"] = float(value)
    if "api_key" in fields and len(str(fields["api_key"] or "")) > 500:
        raise InputError("api_key", "At most 500 characters.")
    return fields


def _server_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) address, or None when it is not one: urlsplit
    and .port raise ValueError on a broken bracket or a port that is not a number."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def source_create(*, created_by: AbstractBaseUser | None, **fields: object) -> ModelSource:
    for required in ("name", "base_url", "model"):
        if required not in fields:
            raise InputError(required, "This field is required.")
    fields = _checked(fields)
    try:
        with transaction.atomic():
            return ModelSource.objects.create(created_by=created_by, **fields)
    except IntegrityError:
        raise SourceNameTaken(f"A source named {fields['name']!r} exists already.") from None


def source_update(*, source: ModelSource, **fields: object) -> ModelSource:
    fields = _checked(fields)
    moved = "base_url" in fields and _server_of(str(fields["base_url"])) != _server_of(
        source.base_url
    )
    if moved and source.api_key and "api_key" not in fields:
        # The stored key was given for the old server; kept, a check would send it to
        # whichever server the new address names.
        raise InputError(
            "api_key",
            "base_url names another server: send api_key again (empty for none).",
        )
    for name, value in fields.items():
        setattr(source, name, value)
    try:
        with transaction.atomic():
            source.save(update_fields=list(fields) or None)
    except IntegrityError:
        raise SourceNameTaken(f"A source named {fields['name']!r} exists already.") from None
    return source


def source_delete(*, source: ModelSource) -> None:
    """Drafts and candidates keep the source's name; its jobs keep their record."""
    source.delete()


@dataclass(frozen=True)
class SourceCheck:
    ok: bool
    latency_ms: int
    detail: str


def source_check(*, source: ModelSource) -> SourceCheck:
    """One short completion through the source: whether it answered, how fast, and what
    it said or why it failed. A server that is down or refuses is a result, not an error."""
    started = time.monotonic()
    try:
        timeout_s = min(source.timeout_s, CHECK_TIMEOUT_S)
        client = source_client(source, attempts=1, timeout_s=timeout_s)
        completion = client.chat(CHECK_QUESTION, temperature=0.0, max_tokens=8)
    except SourceError as exc:
        return SourceCheck(False, _ms_since(started), str(exc))
    reply = completion.replies[0] if completion.replies else ""
    detail = f"{source.model} answered: {reply[:100]!r}"
    return SourceCheck(True, _ms_since(started), detail)


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
