"""Model sources through the API: admins register, list, edit, delete and check them;
the API key goes in and never comes out."""

import logging

import pytest

from sources.models import ModelSource

from .conftest import SECRET

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "vllm-a",
    "base_url": "http://gpu-box:8000/v1/",
    "model": "meta/llama",
    "api_key": SECRET,
    "max_concurrency": 8,
}


def test_admins_register_edit_and_delete_a_source_whose_key_is_never_shown(api, carol):
    api.force_authenticate(carol)

    created = api.post("/api/model-sources/", GOOD, format="json")

    assert created.status_code == 201, created.data
    source = created.json()
    assert source["base_url"] == "http://gpu-box:8000/v1"  # the trailing slash dropped
    assert source["max_concurrency"] == 8 and source["timeout_s"] == 60.0
    assert source["has_api_key"] is True and source["created_by"] == "carol"
    listed = api.get("/api/model-sources/")
    detail = api.get(f"/api/model-sources/{source['id']}/")
    patched = api.patch(
        f"/api/model-sources/{source['id']}/", {"model": "meta/llama-2", "timeout_s": 5}
    )
    assert patched.status_code == 200 and patched.json()["model"] == "meta/llama-2"
    for answer in (created, listed, detail, patched):
        assert SECRET not in answer.content.decode()
        assert '"api_key"' not in answer.content.decode()
    row = ModelSource.objects.get()
    assert row.api_key == SECRET and row.timeout_s == 5.0
    assert SECRET not in repr(row) and SECRET not in str(row)
    assert api.delete(f"/api/model-sources/{source['id']}/").status_code == 204
    assert not ModelSource.objects.exists()


def test_only_admins_reach_the_sources_api(api, alice, bob, dave):
    source = ModelSource.objects.create(name="s", base_url="http://x/v1", model="m")
    calls = [
        ("get", "/api/model-sources/"),
        ("post", "/api/model-sources/"),
        ("get", f"/api/model-sources/{source.pk}/"),
        ("patch", f"/api/model-sources/{source.pk}/"),
        ("delete", f"/api/model-sources/{source.pk}/"),
        ("post", f"/api/model-sources/{source.pk}/check/"),
        ("post", "/api/drafts/"),
    ]
    for user in (alice, bob, dave):
        api.force_authenticate(user)
        for method, path in calls:
            assert getattr(api, method)(path, {}, format="json").status_code == 403, (user, path)
    api.force_authenticate(None)
    for method, path in calls:
        assert getattr(api, method)(path, {}, format="json").status_code in (401, 403)
    assert ModelSource.objects.count() == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"base_url": "ftp://host/v1"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": "http://[::1/v1"}, "base_url"),
        ({"base_url": "http://host:abc/v1"}, "base_url"),
        ({"base_url": "http://host:99999/v1"}, "base_url"),
        ({"name": "  "}, "name"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"model": ""}, "model"),
    ],
)
def test_a_bad_source_is_refused_naming_the_field(api, carol, change, field):
    api.force_authenticate(carol)

    answer = api.post("/api/model-sources/", {**GOOD, **change}, format="json")

    assert answer.status_code == 400 and field in answer.json(), answer.json()
    assert SECRET not in answer.content.decode()


def test_a_bad_address_is_refused_on_an_edit_too(api, carol):
    source = ModelSource.objects.create(name="s", base_url="http://x/v1", model="m")
    api.force_authenticate(carol)

    for url in ("http://[::1/v1", "http://host:abc/v1"):
        answer = api.patch(f"/api/model-sources/{source.pk}/", {"base_url": url}, format="json")
        assert answer.status_code == 400 and "base_url" in answer.json(), answer.json()
    source.refresh_from_db()
    assert source.base_url == "http://x/v1"


def test_moving_a_source_to_another_server_needs_its_key_again(api, carol):
    api.force_authenticate(carol)
    path = (
        f"/api/model-sources/{api.post('/api/model-sources/', GOOD, format='json').json()['id']}/"
    )

    moved = api.patch(path, {"base_url": "http://mine.example:8000/v1"}, format="json")
    same_server = api.patch(path, {"base_url": "http://gpu-box:8000/v2"}, format="json")

    assert moved.status_code == 400 and "api_key" in moved.json(), moved.json()
    assert same_server.status_code == 200, same_server.json()
    assert ModelSource.objects.get().base_url == "http://gpu-box:8000/v2"
    for change in ({"api_key": ""}, {"api_key": "another"}):
        change["base_url"] = "http://mine.example:8000/v1"
        assert api.patch(path, change, format="json").status_code == 200
    assert ModelSource.objects.get().api_key == "another"
    # Without a key to leak, the address may move alone.
    ModelSource.objects.update(api_key="")
    assert api.patch(path, {"base_url": "http://third:1/v1"}, format="json").status_code == 200


def test_a_second_source_of_the_same_name_is_a_conflict(api, carol):
    api.force_authenticate(carol)
    api.post("/api/model-sources/", GOOD, format="json")

    answer = api.post("/api/model-sources/", GOOD, format="json")

    assert answer.status_code == 409 and "vllm-a" in answer.json()["detail"]
    assert ModelSource.objects.count() == 1


def test_checking_a_server_that_is_down_says_so_without_the_key(api, carol, closed_port, caplog):
    source = ModelSource.objects.create(
        name="down", base_url=f"http://127.0.0.1:{closed_port}/v1", model="m", api_key=SECRET
    )
    api.force_authenticate(carol)

    with caplog.at_level(logging.DEBUG):
        answer = api.post(f"/api/model-sources/{source.pk}/check/")

    assert answer.status_code == 200
    check = answer.json()
    assert check["ok"] is False and "Could not reach" in check["detail"]
    assert isinstance(check["latency_ms"], int)
    assert SECRET not in answer.content.decode() and SECRET not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_checking_the_platforms_own_v1_gets_an_answer(api, carol, own_source):
    api.force_authenticate(carol)

    answer = api.post(f"/api/model-sources/{own_source.pk}/check/")

    assert answer.status_code == 200
    check = answer.json()
    assert check["ok"] is True, check
    assert check["latency_ms"] > 0 and own_source.model in check["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_wrong_key_or_an_unknown_model_is_not_ok_and_says_why(api, carol, own_source):
    api.force_authenticate(carol)
    token = own_source.api_key
    api.patch(f"/api/model-sources/{own_source.pk}/", {"api_key": SECRET}, format="json")

    refused = api.post(f"/api/model-sources/{own_source.pk}/check/").json()

    assert refused["ok"] is False and "HTTP 401" in refused["detail"], refused
    assert SECRET not in refused["detail"]
    api.patch(
        f"/api/model-sources/{own_source.pk}/",
        {"api_key": token, "model": "sft-999999"},
        format="json",
    )
    unknown = api.post(f"/api/model-sources/{own_source.pk}/check/").json()
    assert unknown["ok"] is False and "HTTP 404" in unknown["detail"], unknown


@pytest.mark.django_db(transaction=True)
def test_only_the_hosts_model_source_hosts_names_are_reached(api, carol, own_source, settings):
    settings.MODEL_SOURCE_HOSTS = ["gpu-box", "*.lan"]
    api.force_authenticate(carol)
    for url in ("http://gpu-box:8000/v1", "http://a.b.lan/v1", "https://GPU-BOX/v1"):
        answer = api.post(
            "/api/model-sources/", {**GOOD, "name": url, "base_url": url}, format="json"
        )
        assert answer.status_code == 201, answer.json()
    refused = ("http://169.254.169.254/v1", "http://lan/v1", "http://evil-lan/v1")
    for url in (*refused, "http://evil.com%2Fx.lan/v1"):
        answer = api.post(
            "/api/model-sources/", {**GOOD, "name": url, "base_url": url}, format="json"
        )
        assert answer.status_code == 400 and "MODEL_SOURCE_HOSTS" in str(answer.json()["base_url"])

    # A source saved before the list left its host out is checked, and refused, when used:
    # no request leaves, and the check says why.
    check = api.post(f"/api/model-sources/{own_source.pk}/check/").json()
    assert check["ok"] is False and "MODEL_SOURCE_HOSTS" in check["detail"], check
    settings.MODEL_SOURCE_HOSTS = []
    assert api.post(f"/api/model-sources/{own_source.pk}/check/").json()["ok"] is True
