import threading

import pytest
from django.db import IntegrityError, connection, transaction

from guidelines.models import Guideline, GuidelineVersion
from guidelines.services import version_draft_create, version_publish
from tests.guidelines.conftest import V1, V2

BASE = "/api/guidelines/assistant/versions/"


def test_an_admin_writes_publishes_and_everyone_reads_a_version(api, carol, alice, guideline):
    api.force_authenticate(carol)
    created = api.post(BASE, {"body": V1, "summary": "First"}, format="json")
    published = api.post(f"{BASE}1/publish/")
    api.force_authenticate(alice)
    read = api.get(f"{BASE}1/")

    assert created.status_code == 201
    assert created.json()["number"] == 1
    assert created.json()["status"] == "draft"
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    assert read.status_code == 200
    assert read.json()["body"] == V1
    assert '<h2 id="refusals">Refusals</h2>' in read.json()["html"]


def test_guidelines_list_their_current_version(api, alice, v1):
    api.force_authenticate(alice)

    rows = api.get("/api/guidelines/").json()

    assert rows == [
        {
            "id": v1.guideline_id,
            "slug": "assistant",
            "title": "Assistant behaviour",
            "current_version": 1,
        }
    ]


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/api/guidelines/", {"slug": "coding", "title": "Coding"}),
        ("post", BASE, {"body": "text"}),
        ("patch", f"{BASE}1/", {"body": "text"}),
        ("post", f"{BASE}1/publish/", {}),
        ("post", f"{BASE}1/retire/", {}),
        ("get", "/api/guidelines/assistant/acknowledgements/", None),
    ],
)
@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_labelers_and_reviewers_cannot_write_guidelines(
    api, request, v1, persona, method, path, payload
):
    api.force_authenticate(request.getfixturevalue(persona))

    response = getattr(api, method)(path, payload, format="json")

    assert response.status_code == 403


def test_drafts_are_invisible_to_labelers(api, alice, carol, v1):
    version_draft_create(guideline=v1.guideline, body=V2, summary="", author=carol)
    api.force_authenticate(alice)

    assert api.get(f"{BASE}2/").status_code == 404
    assert [v["number"] for v in api.get(BASE).json()] == [1]


def test_a_draft_can_be_edited_until_it_is_published(api, carol, guideline):
    api.force_authenticate(carol)
    api.post(BASE, {"body": V1}, format="json")

    edited = api.patch(f"{BASE}1/", {"body": V2, "summary": "Honesty"}, format="json")
    api.post(f"{BASE}1/publish/")
    refused = api.patch(f"{BASE}1/", {"body": "sneaky edit"}, format="json")

    assert edited.status_code == 200
    assert edited.json()["body"] == V2
    assert refused.status_code == 409
    assert "never change" in refused.json()["detail"]
    assert GuidelineVersion.objects.get(number=1).body == V2


def test_publishing_twice_is_refused(api, carol, v1):
    api.force_authenticate(carol)

    response = api.post(f"{BASE}1/publish/")

    assert response.status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        {"body": "rewritten"},
        {"summary": "rewritten"},
        {"number": 7},
        {"status": "draft", "published_at": None},
    ],
)
def test_the_database_refuses_to_change_a_published_version(v1, change):
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        GuidelineVersion.objects.filter(pk=v1.pk).update(**change)

    v1.refresh_from_db()
    assert v1.body == V1
    assert v1.status == "published"


def test_raw_sql_cannot_change_a_published_version_either(v1):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE guidelines_guidelineversion SET body = 'x' WHERE id = %s", [v1.pk])


def test_a_published_version_is_never_deleted(v1):
    with pytest.raises(ValueError, match="never deleted"):
        v1.delete()


def test_django_admin_shows_a_published_version_read_only(client, carol, v1):
    client.force_login(carol)
    url = f"/admin/guidelines/guidelineversion/{v1.pk}/change/"

    page = client.get(url)
    client.post(url, {"body": "changed in the admin", "summary": "x", "guideline": v1.guideline_id})

    assert page.status_code == 200
    assert 'name="body"' not in page.content.decode()
    v1.refresh_from_db()
    assert v1.body == V1


def test_retiring_keeps_the_text_and_falls_back_to_the_previous_version(api, carol, v1):
    api.force_authenticate(carol)
    api.post(BASE, {"body": V2}, format="json")
    api.post(f"{BASE}2/publish/")

    retired = api.post(f"{BASE}2/retire/")
    listed = api.get("/api/guidelines/").json()[0]

    assert retired.status_code == 200
    assert retired.json()["status"] == "retired"
    assert retired.json()["body"] == V2
    assert listed["current_version"] == 1


def test_an_older_draft_cannot_be_published_over_a_newer_version(api, carol, v1):
    api.force_authenticate(carol)
    api.post(BASE, {"body": "draft two"}, format="json")
    api.post(BASE, {"body": V2}, format="json")
    api.post(f"{BASE}3/publish/")

    response = api.post(f"{BASE}2/publish/")

    assert response.status_code == 409
    assert "v3" in response.json()["detail"]


@pytest.mark.parametrize("body", ["", "   \n  "])
def test_an_empty_body_is_a_400(api, carol, guideline, body):
    api.force_authenticate(carol)

    response = api.post(BASE, {"body": body}, format="json")

    assert response.status_code == 400
    assert "body" in response.json()
    assert not GuidelineVersion.objects.exists()


def test_numbers_are_sequential_when_two_admins_write_and_publish_at_once(transactional_db, carol):
    guideline = Guideline.objects.create(slug="race", title="Race")
    writers = 4
    barrier = threading.Barrier(writers)
    numbers, errors = [], []

    def write_and_publish(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            draft = version_draft_create(
                guideline=guideline, body=f"text {i}", summary="", author=carol
            )
            numbers.append(draft.number)
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write_and_publish, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(numbers) == list(range(1, writers + 1))
    # Publishing them all at once: the lock on the guideline lets the newest win, and
    # every older draft that comes after it is refused rather than published out of order.
    results = []
    barrier = threading.Barrier(writers)

    def publish(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            version_publish(
                version=GuidelineVersion.objects.get(guideline=guideline, number=number)
            )
            results.append(number)
        except Exception as exc:  # an older draft after a newer one: refused
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(1, writers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    published = list(
        GuidelineVersion.objects.filter(guideline=guideline, status="published")
        .order_by("published_at")
        .values_list("number", flat=True)
    )
    assert published == sorted(published)
    assert writers in published
    assert len(results) == writers
    assert all(isinstance(r, int) or r == "VersionNotEditable" for r in results)
