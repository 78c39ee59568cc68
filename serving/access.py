"""Who may call /v1: `Authorization: Bearer <token>` with one of the platform's API tokens
(the header OpenAI's clients send), held by an admin or an account with the inference role;
or the platform's own workers, with a short-lived key they sign (sources.own_server)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed

from accounts.roles import Role, user_has_role
from accounts.tokens import token_user
from serving.errors import Forbidden, NotAuthenticated
from sources.own_server import InternalKeyRefused, internal_key_checked, is_internal

# "Token" too: the word the rest of the platform's API uses, so one header works for both.
KEYWORDS = ("bearer", "token")


def caller_checked(request: HttpRequest) -> AbstractBaseUser | None:
    """The user behind the request's token, or None for the platform's own internal key;
    NotAuthenticated or Forbidden otherwise."""
    key = _key(request)
    if is_internal(key):
        _internal_checked(key)
        return None
    try:
        user, _token = token_user(key)
    except AuthenticationFailed as exc:
        raise NotAuthenticated(str(exc.detail)) from None
    if not user_has_role(user, Role.ADMIN, Role.INFERENCE):
        raise Forbidden("Calling the models needs the admin or the inference role.")
    return user


def platform_checked(request: HttpRequest) -> None:
    """Only the platform's own internal key passes: for work no user asks for directly."""
    key = _key(request)
    if not is_internal(key):
        raise NotAuthenticated("Only the platform's own processes ask for this.")
    _internal_checked(key)


def _key(request: HttpRequest) -> str:
    keyword, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    if keyword.lower() not in KEYWORDS or not key.strip():
        raise NotAuthenticated("Send an API token: 'Authorization: Bearer <token>'.")
    return key.strip()


def _internal_checked(key: str) -> None:
    try:
        internal_key_checked(key)
    except InternalKeyRefused as exc:
        raise NotAuthenticated(str(exc)) from None
