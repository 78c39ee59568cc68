"""An Idempotency-Key on a ranking: a retry returns the first ranking, a changed body with
the same key is refused (409), and many clients sending one key at once make one ranking."""

import pytest
from rest_framework.test import APIClient

from rankings.models import Ranking
from tests.concurrent_requests import sent_at_once
from tests.rankings.conftest import make_comparison


@pytest.fixture
def held(api, bob, read, prompt):
    """A comparison of two replies whose ranking task bob holds."""
    comparison = make_comparison(prompt, k=2, overlap=1)
    read(bob)
    api.force_authenticate(bob)
    api.post("/api/tasks/next/", {"kind": "ranking"}, format="json")
    return comparison


def rank(api, comparison, *, best_first=True, rationale="", key="k-1"):
    first, second = comparison.candidates.values_list("id", flat=True)
    order = [[first], [second]] if best_first else [[second], [first]]
    return api.post(
        f"/api/comparisons/{comparison.pk}/rankings/",
        {"ranking": order, "rationale": rationale},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_the_same_key_and_body_again_returns_the_first_ranking(api, held):
    first = rank(api, held)
    again = rank(api, held)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize("change", [{"best_first": False}, {"rationale": "Changed my mind."}])
def test_the_same_key_with_another_answer_is_a_409(api, held, change):
    first = rank(api, held)

    changed = rank(api, held, **change)

    assert first.status_code == 201
    assert changed.status_code == 409
    assert changed.json()["code"] == "idempotency_key_reused"
    assert Ranking.objects.get().ranking == first.json()["ranking"]


def test_a_second_submit_without_the_key_returns_the_first_ranking(api, held):
    first = rank(api, held)

    again = rank(api, held, best_first=False, key="")

    assert again.status_code == 200
    assert again.json()["ranking"] == first.json()["ranking"]


def test_a_key_used_on_another_comparison_is_a_409(api, bob, held, prompt):
    rank(api, held)
    other = make_comparison(prompt, k=2, overlap=1)
    api.post("/api/tasks/next/", {"kind": "ranking"}, format="json")

    reused = rank(api, other)

    assert reused.status_code == 409
    assert "another comparison" in reused.json()["detail"]
    assert Ranking.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_eight_clients_with_one_key_get_the_one_ranking(bob, held):
    def send():
        client = APIClient()
        client.force_authenticate(bob)
        return rank(client, held, rationale="The first is right.")

    answers = sent_at_once(8, send)

    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.content for a in answers]
    assert {a.json()["id"] for a in answers} == {Ranking.objects.get().pk}
