"""One place where domain errors become HTTP answers, so every API view agrees on them.

Every refusal an app raises is a `config.errors.PlatformError` that carries its own status,
code and extra fields, so this module needs to know no app."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import PlatformError


def _refusal(exc: PlatformError) -> Response:
    body: dict[str, object] = {"detail": exc.detail()}
    if exc.code:
        body["code"] = exc.code
    body.update(exc.payload())
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return Response(body, status=exc.status, headers=headers)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, PlatformError):
        return _refusal(exc)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError) and "immutable" in str(exc):
        # The database's own guard on published rows (a trigger), reached by a write that
        # went around the services.
        return Response({"detail": str(exc).splitlines()[0]}, status=status.HTTP_409_CONFLICT)
    return exception_handler(exc, context)
