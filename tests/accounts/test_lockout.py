"""Five failed logins for one username from one address lock it out for the cool-off.

alice is the one attacked; bob, on the same address, must not notice.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from tests.conftest import PASSWORD, REPO_ROOT, free_port

LOGIN_PATHS = ["/accounts/login/", "/admin/login/"]


def html_login(client, path: str, username: str, password: str):
    return client.post(path, {"username": username, "password": password})


def token_login(api, username: str, password: str):
    return api.post("/api/auth/token/", {"username": username, "password": password}, format="json")


def fail_html_logins(client, path: str, username: str = "alice", times: int = 5) -> None:
    for _ in range(times):
        assert html_login(client, path, username, "wrong-password").status_code in (200, 429)


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_five_failures_lock_out_even_the_right_password(client, alice, path):
    fail_html_logins(client, path)

    response = html_login(client, path, "alice", PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_four_failures_do_not_lock_out(client, root, path):
    fail_html_logins(client, path, "root", times=4)

    response = html_login(client, path, "root", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(root.pk)


def test_another_user_on_the_same_address_is_not_affected(client, alice, bob):
    fail_html_logins(client, "/accounts/login/")

    response = html_login(client, "/accounts/login/", "bob", PASSWORD)

    assert response.status_code == 302


def test_a_success_resets_the_count(client, alice):
    fail_html_logins(client, "/accounts/login/", times=4)
    assert html_login(client, "/accounts/login/", "alice", PASSWORD).status_code == 302
    client.logout()

    fail_html_logins(client, "/accounts/login/", times=4)

    assert html_login(client, "/accounts/login/", "alice", PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(client, alice, settings):
    fail_html_logins(client, "/accounts/login/")
    assert html_login(client, "/accounts/login/", "alice", PASSWORD).status_code == 429

    past = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    AccessAttempt.objects.filter(username="alice").update(attempt_time=past)

    assert html_login(client, "/accounts/login/", "alice", PASSWORD).status_code == 302


def test_the_token_endpoint_locks_out_like_the_login_page(api, alice):
    for _ in range(4):
        assert token_login(api, "alice", "wrong-password").status_code == 400
    assert token_login(api, "alice", "wrong-password").status_code == 429

    response = token_login(api, "alice", PASSWORD)

    assert response.status_code == 429
    assert response.json()["code"] == "login_locked_out"
    assert "Too many failed logins" in response.json()["detail"]
    assert "token" not in response.json()
    assert token_login(api, "bob", "wrong-password").status_code == 400


def test_a_token_success_resets_the_count(api, alice):
    for _ in range(4):
        token_login(api, "alice", "wrong-password")
    assert token_login(api, "alice", PASSWORD).status_code == 200

    for _ in range(4):
        token_login(api, "alice", "wrong-password")

    assert token_login(api, "alice", PASSWORD).status_code == 200


def test_failures_on_the_login_page_lock_the_token_endpoint_too(client, api, alice):
    fail_html_logins(client, "/accounts/login/")

    assert token_login(api, "alice", PASSWORD).status_code == 429


@pytest.fixture
def web_server(child_env):
    """gunicorn with two worker processes, on the test database: another process's view."""
    port = free_port()
    env = dict(child_env, SECURE_SSL_REDIRECT="false", SECURE_COOKIES="false")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=REPO_ROOT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/healthz", timeout=10)
            break
        except OSError:  # refused while it binds, or a timeout while it loads Django
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                pytest.fail("gunicorn did not start")
            time.sleep(0.3)
    try:
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


def post_json(url: str, body: dict) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_failures_counted_by_the_web_servers_workers_lock_this_process_out(
    web_server, client, alice
):
    url = f"{web_server}/api/auth/token/"
    answers = [post_json(url, {"username": "alice", "password": "wrong"}) for _ in range(5)]
    assert answers == [400, 400, 400, 400, 429]

    # This process never saw a failure: only the database tells it alice is locked out.
    assert html_login(client, "/accounts/login/", "alice", PASSWORD).status_code == 429
    assert post_json(url, {"username": "alice", "password": PASSWORD}) == 429
