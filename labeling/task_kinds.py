"""Every kind of task the queue hands out, registered by the app that owns it.

A kind says what pages call it, who may work it, which page shows it and what the API's
task payload adds. Labeling registers its own kinds (demonstration, review) in
labeling/apps.py; other apps register theirs in their own ready(), so labeling's queue,
pages and API serve their tasks without importing them (design.md §3: dependencies point
one way, from the apps above down to labeling). The registry, not the `choices` of
Task.kind, says which kinds there are: a new kind needs no migration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.roles import user_has_role

if TYPE_CHECKING:
    from labeling.models import Assignment


@dataclass(frozen=True)
class TaskKind:
    # What pages call a task of this kind: "Write a demonstration".
    label: str
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


def unregister(kind: str) -> None:
    """Forget a kind: for a test's throwaway kind."""
    del _kinds[kind]


def task_kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every registered kind, in the order they were registered."""
    return [(kind, description.label) for kind, description in _kinds.items()]


def kind_label(kind: str) -> str:
    """What pages call a task of `kind`; the bare kind for one no app registers."""
    description = _kinds.get(kind)
    return description.label if description else kind


def kind_description(kind: str) -> TaskKind | None:
    """The registered kind, or None for a name no app registered (from a URL, say)."""
    return _kinds.get(kind)


def kind_refusal(kind: str, user: AbstractBaseUser | AnonymousUser) -> str | None:
    """Why `user` may not work tasks of the registered `kind`, or None when they may."""
    roles = _kinds[kind].roles
    if user_has_role(user, *roles):
        return None
    return f"{kind} tasks need the {roles[0]} role."
