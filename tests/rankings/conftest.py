import pytest

from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from labeling.services import prompt_create
from rankings.services import comparison_create


@pytest.fixture
def guideline(carol):
    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    version_publish(
        version=version_draft_create(
            guideline=guideline, body="# Rank well\n", summary="", author=carol
        )
    )
    return guideline


@pytest.fixture
def read(guideline):
    def acknowledge(*users):
        for user in users:
            acknowledgement_create(user=user, version=guideline.versions.get(status="published"))

    return acknowledge


@pytest.fixture
def erin(db):
    from accounts.services import user_create

    return user_create(
        username="erin", password="a-long-test-password-42", roles=["labeler", "reviewer"]
    )


@pytest.fixture
def prompt(guideline, carol):
    return prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "Explain tides."}],
    )


def make_comparison(prompt, k=4, overlap=3, **extra):
    return comparison_create(
        prompt=prompt,
        candidates=[{"content": f"Reply {i}", "model": f"m{i}"} for i in range(k)],
        overlap=overlap,
        **extra,
    )
