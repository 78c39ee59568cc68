"""Refusals in OpenAI's shape, `{"error": {"message", "type", "code"}}`: what OpenAI's
client libraries read and raise as their own exception types (404 NotFoundError, ...)."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse


class ServingError(Exception):
    status = 400
    type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param

    def response(self) -> JsonResponse:
        error = {"message": str(self), "type": self.type, "param": self.param, "code": self.code}
        return JsonResponse({"error": error}, status=self.status)


class BadRequest(ServingError):
    code = "invalid_value"


class NotAuthenticated(ServingError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(ServingError):
    status = 403
    type = "permission_error"
    code = "insufficient_role"


class ModelNotFound(ServingError):
    status = 404
    code = "model_not_found"


class PathNotFound(ServingError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ServingError):
    status = 405
    code = "method_not_allowed"


class BodyTooLarge(ServingError):
    status = 413
    code = "body_too_large"


def body_too_large() -> JsonResponse:
    """The answer to a body over Django's limit, wherever reading it raised."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return BodyTooLarge(f"The body is over {limit:,} bytes.").response()


class ServerError(ServingError):
    status = 500
    type = "server_error"
    code = "server_error"


class InferenceUnavailable(ServingError):
    status = 503
    type = "server_error"
    code = "inference_unavailable"


class DeadlinePassed(ServingError):
    status = 504
    type = "server_error"
    code = "timeout"
