"""Bad request bodies and URLs are a 4xx with a JSON body on every /api/ path, never a 500.

root (a superuser) sends them, so each request gets past the role checks to the point
where the body is read; the same requests with clean text are the control.
"""

import io
import json
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.test import override_settings
from django.urls import path

from config.parsers import BodyTooLarge, CheckedJSONParser
from dataset_io.models import DatasetSnapshot, ImportJob
from guidelines.services import guideline_create, version_draft_create, version_publish
from labeling.models import Prompt


def _boom(request: HttpRequest):
    raise RuntimeError("a bug in a view")


# The URLconf of the test that a server error is JSON: one view that always fails.
urlpatterns = [path("api/boom/", _boom)]


@pytest.fixture
def guideline(root):
    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    version_publish(
        version=version_draft_create(guideline=guideline, body="# Help\n", summary="", author=root)
    )
    return guideline


@pytest.fixture
def admin_api(api, root, guideline):
    api.force_authenticate(root)
    return api


def _post_raw(api, url: str, body: str | bytes, content_type: str = "application/json"):
    return api.generic("POST", url, body, content_type=content_type)


def _prompt_body(content: str) -> dict:
    return {"guideline": "assistant", "messages": [{"role": "user", "content": content}]}


def test_clean_text_goes_through(admin_api):
    response = admin_api.post("/api/prompts/", _prompt_body("What is 2 + 2?"), format="json")

    assert response.status_code == 201, response.content
    assert Prompt.objects.count() == 1


@pytest.mark.parametrize("depth", [65, 100_000])
def test_json_nested_too_deep_is_a_400(admin_api, depth):
    body = "[" * depth + "]" * depth

    response = _post_raw(admin_api, "/api/prompts/", f'{{"messages": {body}}}')

    assert response.status_code == 400
    assert "nested deeper than 64" in response.json()["detail"]


def test_json_nested_64_deep_reaches_the_view(admin_api):
    body = "[" * 63 + "]" * 63

    response = _post_raw(
        admin_api, "/api/prompts/", f'{{"guideline": "assistant", "messages": {body}}}'
    )

    assert response.status_code == 400
    assert "nested" not in json.dumps(response.json())
    assert "messages[0]" in response.json()


NUL = "\\u0000"
SURROGATE = "\\ud800"


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize(
    ("url", "template", "field"),
    [
        (
            "/api/prompts/",
            '{"guideline": "assistant", "messages": [{"role": "user", "content": "a%sb"}]}',
            "messages[0].content",
        ),
        ("/api/prompts/", '{"guideline": "assistant%s", "messages": []}', "guideline"),
        ("/api/demonstrations/", '{"task": 1, "content": "%s"}', "content"),
        ("/api/comparisons/1/rankings/", '{"ranking": [[1]], "rationale": "%s"}', "rationale"),
        (
            "/api/comparisons/",
            '{"prompt": 1, "candidates": [{"content": "ok"}, {"content": "%s", "model": "m"}]}',
            "candidates[1].content",
        ),
        ("/api/guidelines/", '{"slug": "x", "title": "T%s"}', "title"),
        ("/api/guidelines/assistant/versions/", '{"body": "%s", "summary": ""}', "body"),
        ("/api/users/", '{"username": "eve%s", "password": "p", "roles": []}', "username"),
        (
            "/api/exports/",
            '{"kind": "sft", "filters": {"languages": ["%s"]}}',
            "filters.languages[0]",
        ),
    ],
)
def test_unstorable_text_anywhere_in_json_is_a_400_naming_the_field(
    admin_api, url, template, field, bad
):
    response = _post_raw(admin_api, url, template % bad)

    assert response.status_code == 400, response.content
    assert response.json()[field], response.json()
    assert response.json()["detail"].startswith(f"{field}: Must not contain")
    assert not Prompt.objects.exists()


def test_unstorable_text_in_a_key_is_a_400(admin_api):
    response = _post_raw(admin_api, "/api/prompts/", '{"messages": [], "gu\\u0000ide": 1}')

    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_unstorable_text_in_a_form_is_a_400(admin_api):
    response = admin_api.post("/api/guidelines/", {"slug": "x", "title": "T\x00"})

    assert response.status_code == 400
    assert response.json()["title"]


@pytest.mark.parametrize(
    "url", ["/api/prompts/?guideline=%00", "/api/prompts/?gui%00deline=x", "/api/guidelines/a%00b/"]
)
def test_a_nul_in_the_url_is_a_400(admin_api, url):
    response = admin_api.get(url)

    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", "text/plain"]
)
def test_a_10_mb_body_is_a_json_413(admin_api, content_type):
    body = json.dumps(_prompt_body("x" * (10 * 2**20)))

    response = _post_raw(admin_api, "/api/prompts/", body, content_type)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "bytes" in response.json()["detail"]
    assert not Prompt.objects.exists()


def test_the_json_parser_keeps_the_limit_where_no_middleware_checked_it():
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        with pytest.raises(BodyTooLarge, match="1,000 bytes"):
            CheckedJSONParser().parse(io.BytesIO(b'"' + b"x" * 2000 + b'"'))
        assert CheckedJSONParser().parse(io.BytesIO(b'"' + b"x" * 900 + b'"')) == "x" * 900


def test_an_upload_keeps_its_larger_limit(admin_api):
    lines = b'{"messages": [{"role": "user", "content": "Hi?"}]}\n' * 80_000  # ~4 MB
    upload = SimpleUploadedFile("big.jsonl", lines)

    response = admin_api.post(
        "/api/imports/", {"file": upload, "format": "prompts-jsonl"}, format="multipart"
    )

    assert len(lines) > 2.5 * 2**20
    assert response.status_code == 202, response.content
    assert ImportJob.objects.count() == 1


def test_upload_text_fields_over_the_limit_are_a_json_413(admin_api):
    upload = SimpleUploadedFile("x.jsonl", b"{}\n")

    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        response = admin_api.post(
            "/api/imports/",
            {"file": upload, "format": "prompts-jsonl", "guideline": "a" * 500},
            format="multipart",
        )

    assert response.status_code == 413
    assert response.json()["detail"]


def test_an_unknown_api_path_is_a_json_404(admin_api):
    response = admin_api.get("/api/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found."}


def test_a_method_not_allowed_is_a_json_405(admin_api):
    response = admin_api.delete("/api/prompts/")

    assert response.status_code == 405
    assert "DELETE" in response.json()["detail"]


@override_settings(ROOT_URLCONF=__name__)
def test_a_server_error_under_api_is_json(admin_api):
    admin_api.raise_request_exception = False

    response = admin_api.get("/api/boom/")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error."}


def test_pages_outside_the_api_keep_html_errors(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("form_format", ["urlencoded", "multipart"])
def test_a_form_encoded_export_is_a_415(admin_api, form_format):
    fields = {"kind": "sft", "filters": '{"min_agreement": "lots"}'}
    if form_format == "urlencoded":
        response = _post_raw(
            admin_api, "/api/exports/", urlencode(fields), "application/x-www-form-urlencoded"
        )
    else:
        response = admin_api.post("/api/exports/", fields, format="multipart")

    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]
    assert not DatasetSnapshot.objects.exists()


def test_a_json_export_validates_nested_filters(admin_api):
    response = admin_api.post(
        "/api/exports/", {"kind": "sft", "filters": {"min_agreement": "lots"}}, format="json"
    )

    assert response.status_code == 400
    assert "min_agreement" in response.json()["filters"]
    assert not DatasetSnapshot.objects.exists()
