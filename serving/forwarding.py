"""The web process's side of /v1: each request is sent on to the inference process
(INFERENCE_URL) and its answer passed back as it arrives, status, type and body, so a
streamed reply streams through."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from serving.errors import InferenceUnavailable, body_too_large

# Generous: the inference process answers headers only once the model is loaded and the
# request admitted; a reply then streams with no gap longer than one decoding step.
FORWARD_TIMEOUT_S = 600.0
CHUNK_BYTES = 8192
PASSED_HEADERS = ("Authorization", "Content-Type", "Accept")


def _connection() -> http.client.HTTPConnection:
    target = urlsplit(settings.INFERENCE_URL)
    kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    return kind(target.hostname or "127.0.0.1", target.port, timeout=FORWARD_TIMEOUT_S)


def _body(
    answer: http.client.HTTPResponse, connection: http.client.HTTPConnection
) -> Iterator[bytes]:
    try:
        while chunk := answer.read1(CHUNK_BYTES):
            yield chunk
    finally:
        connection.close()


def forwarded(request: HttpRequest) -> HttpResponse:
    try:
        body = request.body
    except RequestDataTooBig:
        return body_too_large()
    base = urlsplit(settings.INFERENCE_URL).path.rstrip("/")
    path = base + request.get_full_path()
    headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
    # The host and scheme the client used: the inference process checks them against the
    # same ALLOWED_HOSTS and HTTPS settings as this one.
    headers["Host"] = request.get_host()
    headers["X-Forwarded-Proto"] = request.scheme
    connection = _connection()
    try:
        method = request.method or "GET"
        connection.request(method, path, body=body or None, headers=headers)
        answer = connection.getresponse()
    except (OSError, http.client.HTTPException):  # no answer, or not one in HTTP
        connection.close()
        return InferenceUnavailable(
            "The inference process is not answering: is it running (runstack starts it)?"
        ).response()
    response = StreamingHttpResponse(_body(answer, connection), status=answer.status)
    response["Content-Type"] = answer.getheader("Content-Type", "application/json")
    for name in ("Cache-Control", "X-Accel-Buffering"):
        if answer.getheader(name):
            response[name] = answer.getheader(name)
    return response
