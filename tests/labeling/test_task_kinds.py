"""Every kind of task the queue can hold is registered by the app that owns it: what pages
call it, the roles that may work it, the page that shows it and what its API payload adds.
The registry is all there is: a kind registered later is opened, listed and handed out with
no model change."""

import pytest
from django.urls import reverse

from accounts.roles import ALL_ROLES, Role
from labeling.api import TaskNextSerializer
from labeling.models import Task
from labeling.queue import task_open, task_record_imported
from labeling.selectors import demonstration_task_payload
from labeling.task_kinds import (
    TaskKind,
    kind_description,
    kind_refusal,
    register,
    task_kind_choices,
    unregister,
)
from rankings.models import RANKING
from tests.labeling.conftest import make_prompts

KINDS = [kind for kind, _ in task_kind_choices()]


def test_the_apps_register_their_kinds_and_the_model_names_none():
    assert KINDS == [Task.Kind.DEMONSTRATION, Task.Kind.REVIEW, RANKING]
    assert not Task._meta.get_field("kind").choices
    assert TaskNextSerializer().fields["kind"].choices == dict(task_kind_choices())


@pytest.mark.parametrize("kind", KINDS)
def test_every_task_kind_is_registered_with_roles_and_a_page(kind):
    description = kind_description(kind)

    assert description is not None, f"no app registered the {kind!r} task kind"
    assert description.label
    assert description.roles, f"nobody may work a {kind!r} task"
    assert set(description.roles) <= set(ALL_ROLES)
    assert reverse(description.page, kwargs={"task_id": 7}).endswith("/7/")
    assert callable(description.payload)


@pytest.mark.parametrize(
    ("kind", "allowed", "refused"),
    [
        (Task.Kind.DEMONSTRATION, "alice", "bob"),
        (Task.Kind.REVIEW, "bob", "alice"),
        (RANKING, "bob", "alice"),
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


@pytest.fixture
def throwaway_kind():
    """A kind registered for one test only, as a new app's ready() would."""
    register(
        "poll",
        TaskKind(
            label="Answer a poll",
            roles=(Role.LABELER,),
            page="labeling-task",
            payload=demonstration_task_payload,
        ),
    )
    yield "poll"
    unregister("poll")


def test_a_kind_registered_later_is_opened_and_handed_to_its_role(
    api, guideline, read, alice, bob, carol, throwaway_kind
):
    read(alice, bob)
    prompt = make_prompts(guideline, carol, 1)[0]
    task = task_open(kind=throwaway_kind, prompt=prompt, wanted=1)
    assert task.kind_label == "Answer a poll"

    api.force_authenticate(bob)
    refused = api.post("/api/tasks/next/", {"kind": "poll"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "poll tasks need the labeler role."

    api.force_authenticate(alice)
    handed = api.post("/api/tasks/next/", {"kind": "poll"}, format="json")
    assert handed.status_code == 200, handed.content
    assert handed.json()["id"] == task.pk and handed.json()["kind"] == "poll"


def test_the_api_refuses_a_kind_no_app_registered(api, alice):
    api.force_authenticate(alice)

    answer = api.post("/api/tasks/next/", {"kind": "poll"}, format="json")

    assert answer.status_code == 400 and "kind" in answer.json()
