import pytest

from guidelines.services import guideline_create, version_draft_create, version_publish

V1 = (
    "# Assistant\n\n## Helpfulness\nAnswer the question.\n\n"
    "## Refusals\nDecline harmful requests.\n"
)
V2 = (
    "# Assistant\n\n## Helpfulness\nAnswer the question first, then explain.\n\n"
    "## Refusals\nDecline harmful requests.\n\n## Honesty\nSay when you do not know.\n"
)


@pytest.fixture
def guideline(db):
    return guideline_create(slug="assistant", title="Assistant behaviour")


@pytest.fixture
def v1(guideline, carol):
    draft = version_draft_create(guideline=guideline, body=V1, summary="First", author=carol)
    return version_publish(version=draft)
