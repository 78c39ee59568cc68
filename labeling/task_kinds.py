"""Every kind of task the queue hands out, registered by the app that owns it.

A kind says who may work it, which page shows it and what the API's task payload adds.
Labeling registers its own kinds (demonstration, review) in labeling/apps.py; the rankings
app registers "ranking" in rankings/apps.py, so labeling's queue, pages and API serve a
ranking task without importing rankings (design.md §3: dependencies point one way,
trainer -> rankings -> labeling -> guidelines).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.roles import user_has_role
from labeling.models import Assignment


@dataclass(frozen=True)
class TaskKind:
    # The roles that may take and work a task of this kind; the first is the one named to
    # someone who holds none of them.
    roles: tuple[str, ...]
    # URL name of the page that shows a task of this kind; it takes `task_id`.
    page: str
    # Extra fields for the API's task payload.
    payload: Callable[[Assignment], dict[str, object]]


_kinds: dict[str, TaskKind] = {}


def register(kind: str, description: TaskKind) -> None:
    _kinds[kind] = description


def kind_description(kind: str) -> TaskKind | None:
    """The registered kind, or None for a name no app registered (from a URL, say)."""
    return _kinds.get(kind)


def kind_refusal(kind: str, user: AbstractBaseUser | AnonymousUser) -> str | None:
    """Why `user` may not work tasks of the registered `kind`, or None when they may."""
    roles = _kinds[kind].roles
    if user_has_role(user, *roles):
        return None
    return f"{kind} tasks need the {roles[0]} role."
