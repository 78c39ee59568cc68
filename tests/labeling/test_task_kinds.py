"""Every kind of task the queue can hold is registered by the app that owns it: the roles
that may work it, the page that shows it and what its API payload adds."""

import pytest
from django.urls import reverse

from accounts.roles import ALL_ROLES
from labeling.models import Task
from labeling.queue import task_open, task_record_imported
from labeling.task_kinds import kind_description, kind_refusal
from tests.labeling.conftest import make_prompts


@pytest.mark.parametrize("kind", Task.Kind.values)
def test_every_task_kind_is_registered_with_roles_and_a_page(kind):
    description = kind_description(kind)

    assert description is not None, f"no app registered the {kind!r} task kind"
    assert description.roles, f"nobody may work a {kind!r} task"
    assert set(description.roles) <= set(ALL_ROLES)
    assert reverse(description.page, kwargs={"task_id": 7}).endswith("/7/")
    assert callable(description.payload)


@pytest.mark.parametrize(
    ("kind", "allowed", "refused"),
    [
        (Task.Kind.DEMONSTRATION, "alice", "bob"),
        (Task.Kind.REVIEW, "bob", "alice"),
        (Task.Kind.RANKING, "bob", "alice"),
    ],
)
def test_a_kind_refuses_whoever_holds_none_of_its_roles(kind, allowed, refused, request):
    assert kind_refusal(kind, request.getfixturevalue(allowed)) is None
    assert kind_refusal(kind, request.getfixturevalue(refused)) == (
        f"{kind} tasks need the {kind_description(kind).roles[0]} role."
    )


def test_a_task_of_a_kind_no_app_registered_is_never_opened(guideline, carol):
    prompt = make_prompts(guideline, carol, 1)[0]
    before = Task.objects.count()

    with pytest.raises(ValueError, match="'poetry'"):
        task_open(kind="poetry", prompt=prompt, wanted=1)
    with pytest.raises(ValueError, match="'poetry'"):
        task_record_imported(kind="poetry", prompt=prompt)

    assert Task.objects.count() == before
