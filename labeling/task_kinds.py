"""What other apps add to a task of their kind, without labeling importing them.

The rankings app registers how a "ranking" task is described to the rater and which page
shows it; labeling's queue and views look the kind up here (design.md §3: dependencies
point one way, trainer -> rankings -> labeling -> guidelines).
"""

from collections.abc import Callable
from dataclasses import dataclass

from labeling.models import Assignment


@dataclass(frozen=True)
class TaskKind:
    # Extra fields for the API's task payload.
    payload: Callable[[Assignment], dict[str, object]]
    # URL name of the page that shows a task of this kind; it takes `task_id`.
    page: str


_kinds: dict[str, TaskKind] = {}


def register(kind: str, description: TaskKind) -> None:
    _kinds[kind] = description


def kind_description(kind: str) -> TaskKind | None:
    return _kinds.get(kind)
