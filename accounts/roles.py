"""The roles of the platform, kept as Django auth groups.

A superuser holds every role. Everything that asks "may this user do X" goes through
`user_roles` / `user_has_role`, so the rule lives in one place.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models


class Role(models.TextChoices):
    LABELER = "labeler", "Labeler"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"
    # A program calling the models through /v1 (an evaluation harness, another service):
    # with this role alone an account reaches /v1 and nothing else.
    INFERENCE = "inference", "Inference"


ALL_ROLES: tuple[str, ...] = tuple(Role.values)

_CACHE_ATTR = "_platform_roles"


def user_roles(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The user's roles in a stable order (labeler, reviewer, admin, inference), cached
    on the object."""
    if not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = roles_remember(user, [group.name for group in user.groups.all()])
    return list(cached)


def roles_remember(user: AbstractBaseUser, group_names: list[str]) -> list[str]:
    """Cache the roles of `user`, whose groups were read along with it (token auth)."""
    if user.is_superuser:
        roles = list(ALL_ROLES)
    else:
        roles = [role for role in ALL_ROLES if role in set(group_names)]
    setattr(user, _CACHE_ATTR, roles)
    return roles


def user_has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    """True when the user holds at least one of `roles`."""
    held = user_roles(user)
    return any(role in held for role in roles)


def forget_cached_roles(user: AbstractBaseUser) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def user_is_inference_only(user: AbstractBaseUser | AnonymousUser) -> bool:
    """An account for programs calling /v1: it holds the inference role and no other."""
    return user_roles(user) == [Role.INFERENCE]
