"""Every /api/ answer is JSON, errors included, whichever layer produced them.

Django answers some errors before or after DRF sees the request (an unknown URL, a body over
DATA_UPLOAD_MAX_MEMORY_SIZE, a server error) with an HTML page; scripts reading the API
expect `{"detail": ...}` as api.md promises. This middleware also refuses, before any view,
what would reach the database and fail there: a NUL character in the path or query string.
"""

from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from config.errors import Unavailable

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _body_too_large(request: HttpRequest) -> JsonResponse | None:
    """413 for a body over the limit, read or not. Multipart uploads (imports) are left to
    Django, which streams their files to disk and limits only their text fields."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or request.content_type == "multipart/form-data":
        return None
    if _declared_length(request) <= limit:
        return None
    return JsonResponse(
        {"detail": f"The request body is over {limit:,} bytes.", "code": "body_too_large"},
        status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    )


def _nul_in_url(request: HttpRequest) -> JsonResponse | None:
    if "\x00" in request.path_info:
        where = "path"
    elif any("\x00" in key or "\x00" in value for key, value in request.GET.items()):
        where = "query string"
    else:
        return None
    return JsonResponse(
        {"detail": f"The {where} must not contain a NUL character (%00)."},
        status=HTTPStatus.BAD_REQUEST,
    )


def _as_json(response: HttpResponse) -> HttpResponse:
    """An error page from Django turned into `{"detail": ...}` with the same status."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return response
    # A short plain message (django-axes' lockout, for one) is kept; a whole page is not.
    text = b"" if response.streaming else response.content.strip()
    if text and len(text) < 500 and not text.startswith(b"<"):
        detail = text.decode(errors="replace")
    else:
        detail = f"{response.reason_phrase}."
    replacement = JsonResponse({"detail": detail}, status=response.status_code)
    for header in ("Allow", "WWW-Authenticate", "Retry-After"):
        if header in response:
            replacement[header] = response[header]
    return replacement


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _is_api(request):
            return self.get_response(request)
        refusal = _nul_in_url(request) or _body_too_large(request)
        if refusal is not None:
            return refusal
        return _as_json(self.get_response(request))

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A view that read too much of a form (the text fields of an upload) raised; or a
        page that starts a job met a broker that is down (the API's own handler answers
        that for /api/)."""
        if not _is_api(request):
            return _job_not_sent_page(request, exception)
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(
                {"detail": str(exception), "code": "body_too_large"},
                status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        if isinstance(exception, SuspiciousOperation):
            return JsonResponse({"detail": str(exception)}, status=HTTPStatus.BAD_REQUEST)
        return None


def _job_not_sent_page(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    if not isinstance(exception, Unavailable):
        return None
    return render(
        request,
        "job_not_sent.html",
        {"detail": str(exception)},
        status=HTTPStatus.SERVICE_UNAVAILABLE,
    )
