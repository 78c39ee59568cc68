"""Who may call /v1: `Authorization: Bearer <token>` with one of the platform's API tokens
(the header OpenAI's clients send), held by an admin or an account with the inference role."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed

from accounts.roles import Role, user_has_role
from accounts.tokens import token_user
from serving.errors import Forbidden, NotAuthenticated

# "Token" too: the word the rest of the platform's API uses, so one header works for both.
KEYWORDS = ("bearer", "token")


def caller_checked(request: HttpRequest) -> AbstractBaseUser:
    """The user behind the request's token; NotAuthenticated or Forbidden otherwise."""
    keyword, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    if keyword.lower() not in KEYWORDS or not key.strip():
        raise NotAuthenticated("Send an API token: 'Authorization: Bearer <token>'.")
    try:
        user, _token = token_user(key.strip())
    except AuthenticationFailed as exc:
        raise NotAuthenticated(str(exc.detail)) from None
    if not user_has_role(user, Role.ADMIN, Role.INFERENCE):
        raise Forbidden("Calling the models needs the admin or the inference role.")
    return user
