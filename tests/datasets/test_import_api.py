"""The import API through a real Celery worker on the configured broker."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Prompt
from tests.datasets.conftest import FIXTURES


def test_an_upload_is_answered_202_and_a_worker_imports_it(api, carol, guideline, worker):
    api.force_authenticate(carol)
    upload = SimpleUploadedFile("prompts.jsonl", (FIXTURES / "mixed-prompts.jsonl").read_bytes())

    accepted = api.post(
        "/api/imports/", {"file": upload, "format": "prompts-jsonl"}, format="multipart"
    )
    deadline = time.monotonic() + 90
    while True:
        job = api.get(f"/api/imports/{accepted.json()['id']}/").json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)

    assert accepted.status_code == 202
    assert job["status"] == "succeeded"
    assert job["progress"] == 1.0
    assert job["counts"]["prompts"] == 3
    assert [e["line"] for e in job["errors"]] == [2, 4, 6]
    assert Prompt.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"format": "csv"}, "format"),
        ({"format": "hh-rlhf", "guideline": "nope"}, "guideline"),
        ({}, "file"),
    ],
)
def test_a_bad_upload_is_a_400(api, carol, guideline, payload, field):
    api.force_authenticate(carol)
    if field != "file":
        payload["file"] = SimpleUploadedFile("x.jsonl", b"{}\n")

    response = api.post("/api/imports/", payload, format="multipart")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_only_admins_import(api, request, guideline, persona):
    api.force_authenticate(request.getfixturevalue(persona))

    response = api.post(
        "/api/imports/",
        {"format": "alpaca", "file": SimpleUploadedFile("x.jsonl", b"{}")},
        format="multipart",
    )

    assert response.status_code == 403


def test_an_export_is_answered_202_written_by_a_worker_and_downloaded(
    api, carol, queue_import, worker
):
    from dataset_io.importing import import_run
    from tests.datasets.conftest import shared_file

    import_run(job_id=queue_import(shared_file("alpaca-seed-tasks.jsonl"), "alpaca").pk)
    api.force_authenticate(carol)

    accepted = api.post(
        "/api/exports/", {"kind": "sft", "options": {"validation_permille": 200}}, format="json"
    )
    deadline = time.monotonic() + 90
    while True:
        snapshot = api.get(f"/api/exports/{accepted.json()['id']}/").json()
        if snapshot["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    download = api.get(f"/api/exports/{snapshot['id']}/download/?split=validation")

    assert accepted.status_code == 202
    assert snapshot["status"] == "succeeded", snapshot["error"]
    body = b"".join(download.streaming_content)
    assert len(body.splitlines()) == snapshot["counts"]["validation"]
    import hashlib

    assert hashlib.sha256(body).hexdigest() == snapshot["sha256"]["validation"]
