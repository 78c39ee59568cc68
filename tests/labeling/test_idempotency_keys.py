"""An Idempotency-Key names one request: sent again it returns the same demonstration,
sent with another body it is refused (409), sent by many clients at once it makes one."""

import pytest
from rest_framework.test import APIClient

from labeling.models import Demonstration
from tests.concurrent_requests import sent_at_once
from tests.labeling.conftest import make_prompts


@pytest.fixture
def leased(api, alice, read, guideline, carol):
    make_prompts(guideline, carol, 2)
    read(alice)
    api.force_authenticate(alice)
    return api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()["id"]


def submit(api, task, content, key="k-1"):
    return api.post(
        "/api/demonstrations/",
        {"task": task, "content": content},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_the_same_key_and_body_again_returns_the_first_demonstration(api, leased):
    first = submit(api, leased, "The answer.")
    again = submit(api, leased, "The answer.")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Demonstration.objects.count() == 1


def test_the_same_key_with_other_content_is_a_409(api, leased):
    first = submit(api, leased, "The answer.")

    changed = submit(api, leased, "Another answer.")

    assert first.status_code == 201
    assert changed.status_code == 409
    assert changed.json()["code"] == "idempotency_key_reused"
    assert "other content" in changed.json()["Idempotency-Key"][0]
    assert Demonstration.objects.get().content == "The answer."


def test_without_a_key_a_second_submit_is_refused_not_duplicated(api, leased):
    api.post("/api/demonstrations/", {"task": leased, "content": "One."}, format="json")

    second = api.post("/api/demonstrations/", {"task": leased, "content": "One."}, format="json")

    assert second.status_code == 409
    assert Demonstration.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_eight_clients_with_one_key_get_the_one_demonstration(alice, leased):
    def send():
        client = APIClient()
        client.force_authenticate(alice)
        return submit(client, leased, "Sent by a client that retries hard.")

    answers = sent_at_once(8, send)

    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.content for a in answers]
    assert {a.json()["id"] for a in answers} == {Demonstration.objects.get().pk}
