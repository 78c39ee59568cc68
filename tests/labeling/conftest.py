import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.services import user_create
from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from labeling.models import Task
from labeling.services import prompt_create
from tests.conftest import PASSWORD


@pytest.fixture
def guideline(carol):
    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    draft = version_draft_create(
        guideline=guideline, body="# Be helpful\n", summary="", author=carol
    )
    version_publish(version=draft)
    return guideline


@pytest.fixture
def read(guideline):
    """read(user, ...): the users acknowledge the current version."""

    def acknowledge(*users):
        version = guideline.versions.get(status="published")
        for user in users:
            acknowledgement_create(user=user, version=version)

    return acknowledge


@pytest.fixture
def erin(db):
    """A labeler who also reviews."""
    return user_create(username="erin", password=PASSWORD, roles=["labeler", "reviewer"])


@pytest.fixture
def one_prompt(guideline, carol):
    return make_prompts(guideline, carol, 1)[0]


def make_prompts(guideline, author, count, *, wanted=1, text="Question"):
    return [
        prompt_create(
            author=author,
            guideline=guideline,
            wanted_demonstrations=wanted,
            messages=[{"role": "user", "content": f"{text} {i}?"}],
            require_acknowledgement=False,
        )
        for i in range(count)
    ]


def make_users(count, role, guideline):
    """Many users at once, each having read the current guideline version."""
    from guidelines.models import Acknowledgement

    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"{role}-{i}", password="!") for i in range(count)]
    )
    group = Group.objects.get_or_create(name=role)[0]
    group.user_set.add(*users)
    version = guideline.versions.get(status="published")
    Acknowledgement.objects.bulk_create([Acknowledgement(user=u, version=version) for u in users])
    return users


def demonstration_tasks():
    return Task.objects.filter(kind=Task.Kind.DEMONSTRATION)
