"""/v1: OpenAI's models and chat completions API over the platform's model versions.

The same views answer in both processes. In the inference process (SERVING_IN_PROCESS)
they run the models; in the web process they forward the request to the inference
process, so that no web worker ever holds a model or waits on one."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from serving.access import caller_checked
from serving.completions import answer_events, answer_whole, ask_parsed, ask_start
from serving.errors import (
    MethodNotAllowed,
    PathNotFound,
    ServerError,
    ServingError,
    body_too_large,
)
from serving.forwarding import forwarded
from serving.selectors import servable_models

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def served(
    method: str,
    *,
    caller: Callable[[HttpRequest], object] = caller_checked,
    elsewhere: View = forwarded,
) -> Callable[[View], View]:
    """Answered by `elsewhere` outside the inference process (the web process forwards),
    else here, after the method and the `caller` are checked; every refusal in OpenAI's
    error shape."""

    def decorator(view: View) -> View:
        @csrf_exempt
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if not settings.SERVING_IN_PROCESS:
                return elsewhere(request)
            try:
                if request.method != method:
                    raise MethodNotAllowed(f"Use {method} on {request.path}.")
                caller(request)
                return view(request, *args, **kwargs)
            except ServingError as exc:
                return exc.response()
            except RequestDataTooBig:
                return body_too_large()
            except Exception:
                # OpenAI's clients read errors in their shape, a server error too.
                logger.exception("%s failed", request.path)
                return ServerError("The server failed to answer; the error is logged.").response()

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorator


@served("GET")
def models_list(request: HttpRequest) -> HttpResponse:
    data = [
        {
            "id": version.name,
            "object": "model",
            "created": int(version.created_at.timestamp()),
            "owned_by": "platform",
        }
        for version in servable_models()
    ]
    return JsonResponse({"object": "list", "data": data})


@served("POST")
def chat_completions(request: HttpRequest) -> HttpResponse:
    ask = ask_parsed(request.body)
    started = ask_start(ask)
    if not ask.stream:
        return JsonResponse(answer_whole(started))
    response = StreamingHttpResponse(
        answer_events(started, include_usage=ask.include_usage), content_type="text/event-stream"
    )
    # Each event should leave as soon as it is written, through any proxy on the way.
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@csrf_exempt
def not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other /v1 path: a 404 in OpenAI's shape, which its clients can read."""
    return PathNotFound(f"There is no /v1/{rest} here.").response()
