"""One place where domain errors become HTTP answers, so every API view agrees on them."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import IdempotencyKeyReused, InputError
from guidelines.services import (
    GuidelineError,
    GuidelineNotAcknowledged,
    NoPublishedVersion,
    VersionNotEditable,
)
from jobs.services import BrokerUnavailable, JobStateError
from labeling.queue import LeaseExpired, LeaseNotHeld, QueueError


def _not_acknowledged(exc: GuidelineNotAcknowledged) -> Response:
    version = exc.version
    slug = version.guideline.slug
    return Response(
        {
            "detail": str(exc),
            "code": "guideline_not_acknowledged",
            "guideline": slug,
            "version": version.number,
            "read": f"/guidelines/{slug}/",
            "acknowledge": f"/api/guidelines/{slug}/versions/{version.number}/acknowledge/",
        },
        status=status.HTTP_403_FORBIDDEN,
    )


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, GuidelineNotAcknowledged):
        return _not_acknowledged(exc)
    if isinstance(exc, VersionNotEditable | NoPublishedVersion):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, GuidelineError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IdempotencyKeyReused):
        return Response(
            {"detail": str(exc), "code": "idempotency_key_reused", exc.field: [str(exc)]},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, InputError):
        return Response(
            {"detail": f"{exc.field}: {exc}", exc.field: [str(exc)]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, LeaseExpired):
        return Response(
            {"detail": str(exc), "code": "lease_expired"}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, LeaseNotHeld):
        return Response(
            {"detail": str(exc), "code": "lease_not_held"}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, QueueError):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, BrokerUnavailable):
        # Nothing was queued and no row was left: the client may simply send it again.
        return Response(
            {"detail": str(exc), "code": "broker_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "10"},
        )
    if isinstance(exc, JobStateError):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError) and "immutable" in str(exc):
        return Response({"detail": str(exc).splitlines()[0]}, status=status.HTTP_409_CONFLICT)
    return exception_handler(exc, context)
