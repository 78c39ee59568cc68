import pytest

from tests.conftest import PASSWORD


def test_a_script_gets_a_token_and_uses_it(api, alice):
    response = api.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api.get("/api/me/")

    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_asking_twice_gives_the_same_token(api, alice):
    first = api.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    second = api.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )

    assert first.json()["token"] == second.json()["token"]


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


def test_a_made_up_token_is_refused(api, alice):
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    assert api.get("/api/me/").status_code == 401


def test_a_token_carries_the_users_roles(api, carol):
    token = api.post(
        "/api/auth/token/", {"username": "carol", "password": PASSWORD}, format="json"
    ).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert api.get("/api/users/").status_code == 200


def test_a_deactivated_users_token_stops_working(api, alice):
    token = api.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()["token"]
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert api.get("/api/me/").status_code == 401
