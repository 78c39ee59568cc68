"""The import API through a real Celery worker on the configured broker."""

import subprocess
import time
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from config.processes import celery_worker_command
from labeling.models import Prompt
from tests.conftest import REPO_ROOT
from tests.trainer.conftest import FIXTURES


@pytest.fixture
def worker(child_env):
    process = subprocess.Popen(
        celery_worker_command(
            queues=["default"],
            hostname=f"imports-{uuid.uuid4().hex[:8]}@%h",
            solo=True,
            loglevel="WARNING",
            quiet_cluster=True,
        ),
        cwd=REPO_ROOT,
        env=child_env,
    )
    yield process
    process.terminate()
    process.wait(timeout=30)


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
