"""Next task through the API on PostgreSQL: a token checked lately in this process is taken
on trust and confirmed by the lease statement itself, so the request is one round trip,
and a token revoked or expired, a user deactivated or a role taken away since is never
served from that trust."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import token_issue, token_revoke
from labeling.models import Assignment
from tests.labeling.conftest import make_prompts

pytestmark = [
    # Outside a test transaction: the statement is its own, as in a request.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL"),
]

NEXT = "/api/tasks/next/"


def token_client(user) -> APIClient:
    token, plain = token_issue(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {plain}")
    api.token = token
    return api


@pytest.fixture
def alice_api(alice, read, guideline, carol):
    make_prompts(guideline, carol, 3)
    read(alice)
    api = token_client(alice)
    # The first request checks the token as every other view does, and remembers it.
    first = api.post(NEXT, {"kind": "demonstration"}, format="json")
    assert first.status_code == 200, first.content
    api.task_id = first.json()["id"]
    return api


def test_a_token_checked_lately_makes_next_task_one_statement(alice_api):
    with CaptureQueriesContext(connection) as asked:
        again = alice_api.post(NEXT, {"kind": "demonstration"}, format="json")

    assert again.status_code == 200
    assert again.json()["id"] == alice_api.task_id  # the same lease, renewed
    assert len(asked.captured_queries) == 1, [q["sql"][:80] for q in asked.captured_queries]


def test_a_revoked_token_is_refused_and_leases_nothing(alice_api, alice):
    held = Assignment.objects.get(user=alice)
    token_revoke(token=alice_api.token)

    response = alice_api.post(NEXT, {"kind": "demonstration"}, format="json")

    assert response.status_code == 401
    # Not renewed either: the statement changed nothing before it was refused.
    assert list(Assignment.objects.filter(user=alice).values_list("pk", "expires_at")) == [
        (held.pk, held.expires_at)
    ]


@pytest.mark.parametrize(
    "asked", [{"kind": "review"}, {"kind": "demonstration", "guideline": "no-such-guideline"}]
)
def test_a_revoked_token_is_told_so_before_anything_else(alice_api, asked):
    # A review task or an unknown guideline is refused before any statement: the refusal
    # waits for the token to be checked afresh, and the token's is the answer.
    token_revoke(token=alice_api.token)

    assert alice_api.post(NEXT, asked, format="json").status_code == 401


def test_an_expired_token_is_refused(alice_api):
    ApiToken.objects.filter(pk=alice_api.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert alice_api.post(NEXT, {"kind": "demonstration"}, format="json").status_code == 401


def test_a_deactivated_user_is_refused(alice_api, alice):
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    assert alice_api.post(NEXT, {"kind": "demonstration"}, format="json").status_code == 401


def test_a_role_taken_away_is_refused(alice_api, alice):
    Group.objects.get(name="labeler").user_set.remove(alice)

    assert alice_api.post(NEXT, {"kind": "demonstration"}, format="json").status_code == 403


def test_a_role_given_counts_at_once(alice_api, alice):
    Group.objects.get(name="reviewer").user_set.add(alice)

    response = alice_api.post(NEXT, {"kind": "review"}, format="json")

    assert response.status_code == 204  # a reviewer now, with nothing to review


def test_a_role_given_to_someone_refused_lately_counts_at_once(dave, read, guideline, carol):
    make_prompts(guideline, carol, 1)
    read(dave)
    api = token_client(dave)
    refused = api.post(NEXT, {"kind": "demonstration"}, format="json")
    Group.objects.get(name="labeler").user_set.add(dave)

    response = api.post(NEXT, {"kind": "demonstration"}, format="json")

    assert refused.status_code == 403
    assert response.status_code == 200


def test_the_statement_marks_the_token_used_at_most_once_a_minute(alice_api):
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=alice_api.token.pk).update(last_used_at=long_ago)

    alice_api.post(NEXT, {"kind": "demonstration"}, format="json")
    used = ApiToken.objects.get(pk=alice_api.token.pk).last_used_at
    alice_api.post(NEXT, {"kind": "demonstration"}, format="json")

    assert used > long_ago
    assert ApiToken.objects.get(pk=alice_api.token.pk).last_used_at == used
