"""Role checks for the API (DRF permission classes) and for HTML views (a decorator)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.roles import Role, user_has_role


class HasRole(BasePermission):
    """Grants access to authenticated users holding any of `roles`."""

    roles: tuple[str, ...] = ()
    message = "This needs one of the roles: {roles}."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if user_has_role(request.user, *self.roles):
            return True
        self.message = HasRole.message.format(roles=", ".join(self.roles))
        return False


class IsAdminRole(HasRole):
    roles = (Role.ADMIN,)


class IsLabeler(HasRole):
    roles = (Role.LABELER, Role.ADMIN)


class IsReviewer(HasRole):
    roles = (Role.REVIEWER, Role.ADMIN)


class TakesTasks(HasRole):
    """Anyone the queue hands tasks to: labelers and reviewers alike (welfare settings)."""

    roles = (Role.LABELER, Role.REVIEWER, Role.ADMIN)


def role_required(
    *roles: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """For HTML views: anonymous users go to the login page, others without a role get 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_has_role(request.user, *roles):
                raise PermissionDenied(f"This page needs one of the roles: {', '.join(roles)}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
