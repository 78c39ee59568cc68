"""Who may call /v1: admins and the inference role, with an API token; an inference-only
account reaches nothing else."""

import json
import time
import urllib.request
from urllib.error import HTTPError

import openai
import pytest
from openai import OpenAI

from accounts.tokens import token_issue
from tests.conftest import PASSWORD

from .conftest import QUESTION


def status_of(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
            return answer.status, json.load(answer)
    except HTTPError as refused:
        return refused.code, json.load(refused)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc"])
def test_without_a_valid_token_v1_answers_401(live_server, sft, header):
    headers = {"Authorization": header} if header else {}

    status, body = status_of(f"{live_server.url}/v1/models", headers)

    assert status == 401
    assert body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("persona", ["alice", "bob", "dave"])
def test_a_token_without_the_role_gets_403(client_for, sft, request, persona):
    client = client_for(request.getfixturevalue(persona))

    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model=sft.name, messages=QUESTION, max_tokens=2)
    with pytest.raises(openai.PermissionDeniedError):
        client.models.list()


def test_an_inference_account_lists_the_models_but_gets_nothing_else(
    live_server, client_for, sft, iris
):
    assert [m.id for m in client_for(iris).models.list().data] == [sft.name]
    _row, token = token_issue(user=iris)

    for path in ["/api/me/", "/api/guidelines/", "/api/tasks/next/", "/api/models/"]:
        status, _body = status_of(f"{live_server.url}{path}", {"Authorization": f"Token {token}"})
        assert status == 403, path


def test_an_inference_account_revokes_its_own_token(live_server, sft, iris):
    _row, token = token_issue(user=iris)
    revoke = urllib.request.Request(
        f"{live_server.url}/api/auth/token/",
        method="DELETE",
        headers={"Authorization": f"Token {token}"},
    )

    with urllib.request.urlopen(revoke) as answer:
        assert answer.status == 204

    status, _body = status_of(f"{live_server.url}/v1/models", {"Authorization": f"Bearer {token}"})
    assert status == 401


def test_an_inference_account_cannot_sign_in_to_the_pages(client, iris):
    page = client.post("/accounts/login/", {"username": "iris", "password": PASSWORD})

    assert page.status_code == 200
    assert "cannot sign in here" in page.content.decode()
    assert client.get("/api/me/").status_code == 401  # no session was opened


def test_the_inference_role_is_one_an_admin_can_give(api, carol):
    api.force_authenticate(carol)
    account = {"username": "harness", "password": "a-long-harness-password-7"}

    created = api.post("/api/users/", {**account, "roles": ["inference"]}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["roles"] == ["inference"]
    # Its program gets a token the usual way.
    api.force_authenticate(None)
    assert api.post("/api/auth/token/", account, format="json").status_code == 200


def test_other_v1_paths_and_methods_are_refused_in_openais_shape(live_server, carol):
    _row, token = token_issue(user=carol)
    bearer = {"Authorization": f"Bearer {token}"}

    missing = status_of(f"{live_server.url}/v1/completions", bearer)
    wrong_method = status_of(f"{live_server.url}/v1/chat/completions", bearer)

    assert missing[0] == 404 and missing[1]["error"]["code"] == "not_found"
    assert wrong_method[0] == 405 and wrong_method[1]["error"]["code"] == "method_not_allowed"


def test_a_body_over_the_upload_limit_is_a_413(live_server, sft, carol, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    _row, token = token_issue(user=carol)
    long_question = [{"role": "user", "content": "river " * 400}]
    request = urllib.request.Request(
        f"{live_server.url}/v1/chat/completions",
        data=json.dumps({"model": sft.name, "messages": long_question}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )

    try:
        urllib.request.urlopen(request)
    except HTTPError as refused:
        status, body = refused.code, json.load(refused)

    assert status == 413
    assert body["error"]["code"] == "body_too_large"


def test_the_platforms_own_signed_key_calls_v1_and_nothing_else(live_server, sft, monkeypatch):
    from django.core import signing

    from sources import own_server

    key = own_server.internal_key()
    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=120)
    try:
        assert [m.id for m in client.models.list().data] == [sft.name]
        reply = client.chat.completions.create(
            model=sft.name, messages=QUESTION, max_tokens=3, seed=1
        )
        assert reply.usage.completion_tokens >= 1
    finally:
        client.close()
    # The rest of the API knows no such key.
    status, _body = status_of(f"{live_server.url}/api/me/", {"Authorization": f"Bearer {key}"})
    assert status == 401

    forged = [
        key[:-3] + ("abc" if not key.endswith("abc") else "xyz"),  # the signature changed
        own_server.INTERNAL_PREFIX + signing.dumps("platform", salt="another.purpose"),
        own_server.INTERNAL_PREFIX + signing.dumps("someone", salt=own_server.INTERNAL_SALT),
    ]
    for refused in forged:
        status, body = status_of(
            f"{live_server.url}/v1/models", {"Authorization": f"Bearer {refused}"}
        )
        assert (status, body["error"]["type"]) == (401, "authentication_error"), refused
    # Signed long enough ago: the same key is refused once it is older than it may be.
    monkeypatch.setattr(own_server, "INTERNAL_KEY_MAX_AGE_S", 0)
    time.sleep(1.1)
    status, body = status_of(f"{live_server.url}/v1/models", {"Authorization": f"Bearer {key}"})
    assert status == 401 and "expired" in body["error"]["message"]
