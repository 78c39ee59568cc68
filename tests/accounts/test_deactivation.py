import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD


def token_of(username: str) -> str:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    return response.json()["token"]


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def admin_api(carol):
    client = APIClient()
    client.force_authenticate(carol)
    return client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/users/{id}/", {"is_active": False}),
        ("post", "/api/users/{id}/deactivate/", None),
    ],
)
def test_a_deactivated_users_tokens_and_sessions_stop_working(
    admin_api, alice, client, method, path, body
):
    token = token_of("alice")
    client.force_login(alice)
    assert client.get("/api/me/").status_code == 200

    response = getattr(admin_api, method)(path.format(id=alice.pk), body, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert with_token(token).get("/api/me/").status_code == 401
    assert client.get("/api/me/").status_code == 401
    assert client.get("/").status_code == 302
    assert (
        APIClient()
        .post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
        .status_code
        == 400
    )


def test_a_reactivated_user_logs_in_again_but_old_tokens_stay_revoked(admin_api, alice):
    old = token_of("alice")
    admin_api.post(f"/api/users/{alice.pk}/deactivate/")

    response = admin_api.patch(f"/api/users/{alice.pk}/", {"is_active": True}, format="json")

    assert response.json()["is_active"] is True
    assert with_token(old).get("/api/me/").status_code == 401
    assert with_token(token_of("alice")).get("/api/me/").status_code == 200


def test_only_admins_deactivate_users(api, alice, bob):
    api.force_authenticate(bob)

    assert api.post(f"/api/users/{alice.pk}/deactivate/").status_code == 403
    assert api.patch(f"/api/users/{alice.pk}/", {"is_active": False}).status_code == 403
    alice.refresh_from_db()
    assert alice.is_active


def test_an_admin_cannot_deactivate_themselves(admin_api, carol):
    response = admin_api.post(f"/api/users/{carol.pk}/deactivate/")

    assert response.status_code == 403
    carol.refresh_from_db()
    assert carol.is_active


@pytest.mark.parametrize("path", ["/api/users/{id}/deactivate/", "/api/users/{id}/revoke-tokens/"])
def test_an_admin_who_is_not_a_superuser_cannot_lock_a_superuser_out(admin_api, root, path):
    token = token_of("root")

    response = admin_api.post(path.format(id=root.pk))

    assert response.status_code == 403
    root.refresh_from_db()
    assert root.is_active
    assert with_token(token).get("/api/me/").status_code == 200


def test_a_superuser_may_deactivate_another_superuser(root, django_user_model, alice):
    other = django_user_model.objects.create_superuser("root2", "r2@example.com", PASSWORD)
    client = APIClient()
    client.force_authenticate(root)

    response = client.post(f"/api/users/{other.pk}/deactivate/")

    assert response.status_code == 200, response.content
    other.refresh_from_db()
    assert not other.is_active


def test_an_admin_reads_one_user_and_an_unknown_one_is_a_404(admin_api, alice):
    assert admin_api.get(f"/api/users/{alice.pk}/").json()["username"] == "alice"
    assert admin_api.get("/api/users/999999/").status_code == 404
