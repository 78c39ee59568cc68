"""What a locked-out login gets back: the same 429 and message on every login path."""

from axes.helpers import get_client_ip_address
from axes.utils import reset as axes_reset
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKOUT_STATUS = 429


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed logins for this username from your address: try again in "
        f"{minutes} minutes, or ask an admin to unlock it."
    )


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: JSON for the API, the login page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": "login_locked_out", "detail": lockout_message()}, status=LOCKOUT_STATUS
        )
    # The admin's login and ours both come back to our login page, with the reason.
    return render(
        request,
        "registration/login.html",
        {"locked_out": lockout_message(), "next": request.POST.get("next", "")},
        status=LOCKOUT_STATUS,
    )


def login_failures_reset(request: HttpRequest, *, username: str) -> None:
    """Forget the failures of `username` from this address, after a login that succeeded.

    django-axes does this itself for logins that start a session; a token request starts
    none, so the token endpoint calls this to behave the same.
    """
    axes_reset(ip=get_client_ip_address(request), username=username)
