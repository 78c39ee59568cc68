import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import ApiToken
from tests.conftest import PASSWORD


def obtain(api, username: str = "alice", password: str = PASSWORD):
    return api.post("/api/auth/token/", {"username": username, "password": password}, format="json")


def token_of(api, username: str = "alice") -> str:
    return obtain(api, username).json()["token"]


def me_with(api, token: str):
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    try:
        return api.get("/api/me/")
    finally:
        api.credentials()


def test_a_script_gets_a_token_and_uses_it(api, alice):
    response = obtain(api)
    assert response.status_code == 200
    token = response.json()["token"]

    me = me_with(api, token)

    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_asking_twice_gives_two_tokens_that_both_work(api, alice):
    first, second = token_of(api), token_of(api)

    assert first != second
    assert me_with(api, first).status_code == 200
    assert me_with(api, second).status_code == 200


def test_only_the_tokens_hash_is_stored(api, alice):
    token = token_of(api)

    stored = ApiToken.objects.get(user=alice)
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        row = cursor.fetchone()
    assert not any(token in str(value) for value in row)


def test_a_token_expires_after_the_configured_days(api, alice, settings):
    settings.API_TOKEN_TTL_DAYS = 7
    response = obtain(api)
    token = response.json()["token"]

    stored = ApiToken.objects.get(user=alice)
    expected = timezone.now() + timedelta(days=7)
    assert abs((stored.expires_at - expected).total_seconds()) < 60
    assert response.json()["expires_at"]

    ApiToken.objects.filter(pk=stored.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = me_with(api, token)

    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "alice", "password": "wrong-password"},
        {"username": "nobody", "password": PASSWORD},
        {},
    ],
)
def test_bad_credentials_get_a_400_and_no_token(api, alice, payload):
    response = api.post("/api/auth/token/", payload, format="json")

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()


def test_a_made_up_token_is_refused(api, alice):
    assert me_with(api, "0123456789abcdef0123456789abcdef01234567").status_code == 401


def test_a_token_carries_the_users_roles(api, carol):
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_of(api, 'carol')}")

    assert api.get("/api/users/").status_code == 200


def test_delete_revokes_the_token_it_was_sent_with_and_no_other(api, alice):
    kept, revoked = token_of(api), token_of(api)

    api.credentials(HTTP_AUTHORIZATION=f"Token {revoked}")
    assert api.delete("/api/auth/token/").status_code == 204
    api.credentials()

    assert me_with(api, revoked).status_code == 401
    assert me_with(api, kept).status_code == 200


def test_delete_without_a_token_is_a_401(api, alice):
    assert api.delete("/api/auth/token/").status_code == 401


def test_an_admin_revokes_every_token_of_a_user(api, alice, bob, carol):
    alices = [token_of(api), token_of(api)]
    bobs = token_of(api, "bob")

    api.force_authenticate(carol)
    response = api.post(f"/api/users/{alice.pk}/revoke-tokens/")
    api.force_authenticate(None)

    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    assert [me_with(api, t).status_code for t in alices] == [401, 401]
    assert me_with(api, bobs).status_code == 200


def test_only_admins_revoke_other_peoples_tokens(api, alice, bob):
    token = token_of(api)

    api.force_authenticate(bob)
    assert api.post(f"/api/users/{alice.pk}/revoke-tokens/").status_code == 403
    api.force_authenticate(None)

    assert me_with(api, token).status_code == 200
