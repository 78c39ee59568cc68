"""Who sees what: every role against every page and endpoint of the foundation."""

import pytest

from tests.conftest import PASSWORD

# (path, method) -> the personas allowed; everyone else with an account gets 403.
ADMIN_ONLY_API = [("get", "/api/users/"), ("post", "/api/users/")]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/me/", "/api/users/"])
def test_anonymous_gets_401_from_the_api(api, path):
    response = api.get(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/admin/"])
def test_anonymous_is_sent_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.django_db
def test_anonymous_sees_the_login_page(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert b'name="password"' in response.content


@pytest.mark.parametrize(
    ("persona", "roles"),
    [
        ("alice", ["labeler"]),
        ("bob", ["reviewer"]),
        ("carol", ["admin"]),
        ("dave", []),
        ("root", ["labeler", "reviewer", "admin", "inference"]),
    ],
)
def test_me_tells_each_user_their_roles(api, request, persona, roles):
    user = request.getfixturevalue(persona)
    api.force_authenticate(user)

    response = api.get("/api/me/")

    assert response.status_code == 200
    assert response.json()["username"] == user.username
    assert response.json()["roles"] == roles


@pytest.mark.parametrize("persona", ["alice", "bob", "dave"])
@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY_API)
def test_non_admins_get_403_from_admin_endpoints(api, request, persona, method, path):
    api.force_authenticate(request.getfixturevalue(persona))

    response = getattr(api, method)(path, {}, format="json")

    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


@pytest.mark.parametrize("persona", ["alice", "bob", "dave"])
def test_non_admins_are_kept_out_of_django_admin(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    response = client.get("/admin/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["carol", "root"])
def test_admins_get_into_django_admin_and_can_change_guidelines(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    index = client.get("/admin/")
    guidelines = client.get("/admin/guidelines/guideline/add/")

    assert index.status_code == 200
    assert guidelines.status_code == 200


@pytest.mark.parametrize(
    ("persona", "shown", "hidden"),
    [
        ("alice", ["labeler-work", "guidelines"], ["reviewer-work", "admin-work"]),
        ("bob", ["reviewer-work", "guidelines"], ["labeler-work", "admin-work"]),
        ("carol", ["admin-work"], ["labeler-work", "reviewer-work"]),
        ("root", ["labeler-work", "reviewer-work", "admin-work"], []),
        ("dave", [], ["labeler-work", "reviewer-work", "admin-work"]),
    ],
)
def test_the_home_page_shows_each_role_where_its_work_is(client, request, persona, shown, hidden):
    client.force_login(request.getfixturevalue(persona))

    html = client.get("/").content.decode()

    for section in shown:
        assert f'id="{section}"' in html
    for section in hidden:
        assert f'id="{section}"' not in html


def test_a_user_without_a_role_is_told_to_ask_for_one(client, dave):
    client.force_login(dave)

    assert "has no role yet" in client.get("/").content.decode()


def test_admin_lists_users_with_their_roles_in_a_fixed_number_of_queries(
    api, carol, alice, bob, django_assert_max_num_queries
):
    api.force_authenticate(carol)

    with django_assert_max_num_queries(6):
        response = api.get("/api/users/")

    assert response.status_code == 200
    roles = {row["username"]: row["roles"] for row in response.json()["results"]}
    assert roles == {"alice": ["labeler"], "bob": ["reviewer"], "carol": ["admin"]}


def test_admin_creates_a_user_who_can_then_log_in(api, client, carol):
    api.force_authenticate(carol)

    response = api.post(
        "/api/users/",
        {"username": "erin", "password": PASSWORD, "roles": ["labeler", "reviewer"]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["id"]
    assert response.json()["roles"] == ["labeler", "reviewer"]
    assert "password" not in response.json()
    assert client.login(username="erin", password=PASSWORD)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "erin", "password": "123", "roles": []}, "password"),
        ({"username": "erin", "password": PASSWORD, "roles": ["owner"]}, "roles"),
        ({"username": "alice", "password": PASSWORD, "roles": []}, "username"),
        ({"username": "no spaces", "password": PASSWORD, "roles": []}, "username"),
        ({"password": PASSWORD}, "username"),
    ],
)
def test_creating_a_user_with_bad_input_is_a_400_naming_the_field(
    api, carol, alice, payload, field
):
    api.force_authenticate(carol)

    response = api.post("/api/users/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_an_admin_created_through_the_api_is_staff(api, carol, django_user_model):
    api.force_authenticate(carol)

    api.post(
        "/api/users/",
        {"username": "frank", "password": PASSWORD, "roles": ["admin"]},
        format="json",
    )

    assert django_user_model.objects.get(username="frank").is_staff


def test_logout_ends_the_session(client, alice):
    client.force_login(alice)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert client.get("/").status_code == 302
