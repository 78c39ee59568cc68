import pytest

from guidelines.services import (
    GuidelineNotAcknowledged,
    NoPublishedVersion,
    acknowledgement_require,
    version_draft_create,
    version_publish,
)
from tests.guidelines.conftest import V2

ACK = "/api/guidelines/assistant/versions/{n}/acknowledge/"


def publish_v2(v1, carol):
    draft = version_draft_create(
        guideline=v1.guideline, body=V2, summary="Honesty section", author=carol
    )
    return version_publish(version=draft)


def test_nobody_works_under_a_version_they_have_not_acknowledged(alice, v1):
    with pytest.raises(GuidelineNotAcknowledged) as refused:
        acknowledgement_require(user=alice, guideline=v1.guideline)

    assert refused.value.version == v1


def test_after_acknowledging_the_user_gets_on_under_that_version(api, alice, v1):
    api.force_authenticate(alice)

    response = api.post(ACK.format(n=1))

    assert response.status_code == 201
    assert acknowledgement_require(user=alice, guideline=v1.guideline) == v1


def test_a_new_version_must_be_acknowledged_again(api, alice, carol, v1):
    api.force_authenticate(alice)
    api.post(ACK.format(n=1))
    v2 = publish_v2(v1, carol)

    with pytest.raises(GuidelineNotAcknowledged) as refused:
        acknowledgement_require(user=alice, guideline=v1.guideline)
    api.post(ACK.format(n=2))

    assert refused.value.version == v2
    assert acknowledgement_require(user=alice, guideline=v1.guideline) == v2


def test_acknowledging_twice_keeps_one_record(api, alice, v1):
    api.force_authenticate(alice)

    first = api.post(ACK.format(n=1))
    second = api.post(ACK.format(n=1))

    assert first.json()["id"] == second.json()["id"]
    assert v1.acknowledgements.count() == 1


def test_a_guideline_with_nothing_published_cannot_be_worked_under(alice, guideline):
    with pytest.raises(NoPublishedVersion):
        acknowledgement_require(user=alice, guideline=guideline)


def test_the_api_answer_names_the_version_to_read(alice, v1, rf):
    from config.api_errors import api_exception_handler

    response = api_exception_handler(GuidelineNotAcknowledged(v1), {})

    assert response.status_code == 403
    assert response.data["code"] == "guideline_not_acknowledged"
    assert response.data["guideline"] == "assistant"
    assert response.data["version"] == 1
    assert response.data["acknowledge"] == ACK.format(n=1)
    assert "version 1" in response.data["detail"]


def test_the_banner_shows_until_the_new_version_is_acknowledged(client, alice, carol, v1):
    client.force_login(alice)
    client.post("/guidelines/assistant/v/1/acknowledge/")
    quiet = client.get("/").content.decode()
    publish_v2(v1, carol)

    banner = client.get("/").content.decode()
    client.post("/guidelines/assistant/v/2/acknowledge/", {"next": "/"})
    after = client.get("/").content.decode()

    assert 'data-testid="guideline-banner"' not in quiet
    assert "Assistant behaviour v2</strong> was published: Honesty section" in banner
    assert 'data-testid="guideline-banner"' not in after


def test_admins_see_who_has_read_which_version(api, client, alice, bob, carol, v1):
    api.force_authenticate(alice)
    api.post(ACK.format(n=1))
    publish_v2(v1, carol)
    api.force_authenticate(carol)

    table = api.get("/api/guidelines/assistant/acknowledgements/").json()
    client.force_login(carol)
    page = client.get("/guidelines/assistant/readers/")

    assert table["versions"] == [1, 2]
    read = {row["username"]: row["read"] for row in table["people"]}
    assert read["alice"]["1"] is not None and read["alice"]["2"] is None
    assert read["bob"] == {"1": None, "2": None}
    assert "carol" not in read  # admins do not label
    assert page.status_code == 200


def test_drafts_cannot_be_acknowledged(api, alice, carol, v1):
    version_draft_create(guideline=v1.guideline, body=V2, summary="", author=carol)
    api.force_authenticate(alice)

    assert api.post(ACK.format(n=2)).status_code == 404


def test_an_admin_cannot_acknowledge_a_draft_either(api, carol, v1):
    version_draft_create(guideline=v1.guideline, body=V2, summary="", author=carol)
    api.force_authenticate(carol)

    response = api.post(ACK.format(n=2))

    assert response.status_code == 400
    assert "Drafts cannot be acknowledged" in response.json()["detail"]
    assert not v1.guideline.versions.get(number=2).acknowledgements.exists()


def test_someone_who_read_nothing_is_asked_to_read_the_guideline_once_not_what_changed(
    client, alice, v1
):
    client.force_login(alice)

    home = client.get("/").content.decode()
    # Taking a task sends them to the version's page, which says it once.
    taken = client.post("/work/demonstration/next/", follow=True)
    page = taken.content.decode()

    assert "Read the guideline</a>" in home and "Read what changed" not in home
    assert taken.redirect_chain[-1][0].startswith("/guidelines/assistant/")
    assert 'data-testid="guideline-banner"' not in page
    assert page.count('data-testid="acknowledge-notice"') == 1
    assert "what changed" not in page and 'class="message' not in page
    assert page.index('id="guideline-body"') < page.index("I have read version 1")
