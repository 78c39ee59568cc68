import pytest

from guidelines.models import Guideline, GuidelineVersion
from tests.guidelines.conftest import V2

ADMIN_PAGES = [
    ("get", "/guidelines/new/"),
    ("get", "/guidelines/assistant/write/"),
    ("get", "/guidelines/assistant/readers/"),
    ("post", "/guidelines/assistant/v/1/publish/"),
    ("post", "/guidelines/assistant/v/1/retire/"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_labelers_and_reviewers_get_403_on_admin_pages(client, request, v1, persona, method, path):
    client.force_login(request.getfixturevalue(persona))

    assert getattr(client, method)(path).status_code == 403
    v1.refresh_from_db()
    assert v1.status == "published"


def test_an_admin_creates_a_guideline_writes_publishes_and_retires_from_the_pages(client, carol):
    client.force_login(carol)

    client.post("/guidelines/new/", {"slug": "coding", "title": "Coding tasks"})
    client.post("/guidelines/coding/write/", {"body": "# Code\n", "summary": "First"})
    client.post("/guidelines/coding/v/1/publish/")
    client.post("/guidelines/coding/write/", {"body": V2, "summary": "Second"})
    client.post("/guidelines/coding/v/2/publish/")
    client.post("/guidelines/coding/v/1/retire/")

    versions = dict(
        GuidelineVersion.objects.filter(guideline__slug="coding").values_list("number", "status")
    )
    assert Guideline.objects.get(slug="coding").title == "Coding tasks"
    assert versions == {1: "retired", 2: "published"}


def test_editing_a_published_version_from_the_page_starts_a_new_draft(client, carol, v1):
    client.force_login(carol)

    response = client.get("/guidelines/assistant/v/1/edit/")

    assert response.status_code == 302
    assert response["Location"] == "/guidelines/assistant/write/"


@pytest.mark.parametrize("slug", ["no spaces!", "café", "x" * 65, ""])
def test_a_bad_slug_is_refused_on_the_page(client, carol, slug):
    client.force_login(carol)

    response = client.post("/guidelines/new/", {"slug": slug, "title": "x"})

    assert response.status_code == 400
    assert not Guideline.objects.exists()


def test_labelers_do_not_see_drafts_on_the_history_page(client, alice, carol, v1):
    from guidelines.services import version_draft_create

    version_draft_create(guideline=v1.guideline, body="secret draft", summary="wip", author=carol)
    client.force_login(alice)

    html = client.get("/guidelines/assistant/history/").content.decode()

    assert "v1" in html
    assert "wip" not in html
    assert client.get("/guidelines/assistant/v/2/").status_code == 404


def test_the_acknowledge_page_never_redirects_off_site(client, alice, v1):
    client.force_login(alice)

    response = client.post(
        "/guidelines/assistant/v/1/acknowledge/", {"next": "https://evil.example/"}
    )

    assert response["Location"] == "/"
