"""Job endpoints when the broker is down, and rerun and cancel of imports and exports."""

import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from dataset_io.models import DatasetSnapshot, ImportJob
from jobs.models import JobStatus
from trainer.models import TrainingRun

from .test_job_recovery import prompt_lines

# Port 9 on loopback: nothing listens there.
BROKER_DOWN = "redis://127.0.0.1:9/0"


def import_upload() -> dict:
    upload = SimpleUploadedFile("prompts.jsonl", prompt_lines(2).encode())
    return {"file": upload, "format": "prompts-jsonl"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "payload", "model"),
    [
        ("/api/exports/", lambda: {"kind": "sft"}, DatasetSnapshot),
        ("/api/imports/", import_upload, ImportJob),
        ("/api/training-runs/", lambda: {"kind": "sft"}, TrainingRun),
    ],
    ids=["export", "import", "training-run"],
)
def test_a_job_posted_while_the_broker_is_down_is_a_503_and_leaves_no_row(
    api, carol, guideline, path, payload, model
):
    api.force_authenticate(carol)
    data = payload()

    uploads = Path(settings.DATA_DIR) / "uploads"
    files_before = {path for path in uploads.rglob("*") if path.is_file()}
    started = time.monotonic()
    with override_settings(CELERY_BROKER_URL=BROKER_DOWN):
        answer = api.post(path, data, format="multipart" if "file" in data else "json")
    took = time.monotonic() - started

    assert answer.status_code == 503
    assert answer.json()["code"] == "broker_unavailable" and answer.json()["detail"]
    assert took < 5
    assert not model.objects.exists()
    # Nor the uploaded file that only the deleted row pointed at.
    assert {path for path in uploads.rglob("*") if path.is_file()} == files_before


@pytest.mark.django_db(transaction=True)
def test_the_export_page_says_the_queue_is_down_and_starts_nothing(client, carol):
    client.force_login(carol)

    with override_settings(CELERY_BROKER_URL=BROKER_DOWN):
        page = client.post("/datasets/exports/new/", {"kind": "sft"})

    assert page.status_code == 503
    assert "The job queue is not answering" in page.content.decode()
    assert not DatasetSnapshot.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_rerun_while_the_broker_is_down_puts_the_job_back_as_it_was(api, carol, guideline):
    api.force_authenticate(carol)
    job = ImportJob.objects.create(
        format="prompts-jsonl", guideline=guideline, file="gone.jsonl", status="failed", error="X"
    )

    with override_settings(CELERY_BROKER_URL=BROKER_DOWN):
        answer = api.post(f"/api/imports/{job.pk}/rerun/")

    assert answer.status_code == 503
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "X"


@pytest.mark.django_db(transaction=True)
def test_a_failed_import_rerun_through_the_api_is_imported_by_a_worker(
    api, carol, queue_import, worker
):
    from .test_training_worker import wait_for

    api.force_authenticate(carol)
    job = queue_import(prompt_lines(4), "prompts-jsonl")
    ImportJob.objects.filter(pk=job.pk).update(status="failed", error="OSError: disk full")

    answer = api.post(f"/api/imports/{job.pk}/rerun/")
    done = wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status="succeeded").first(),
        timeout=60,
        what="the import to run again",
    )

    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    assert done.error == "" and done.counts["lines_imported"] == 4


@pytest.mark.django_db
def test_only_a_failed_cancelled_or_stuck_import_is_rerun(api, carol, guideline):
    api.force_authenticate(carol)
    statuses = ["queued", "running", "succeeded"]
    jobs = [
        ImportJob.objects.create(format="alpaca", guideline=guideline, file="x", status=s)
        for s in statuses
    ]

    answers = [api.post(f"/api/imports/{job.pk}/rerun/") for job in jobs]

    assert [a.status_code for a in answers] == [409, 409, 409]
    assert list(ImportJob.objects.order_by("id").values_list("status", flat=True)) == statuses


@pytest.mark.django_db
def test_a_queued_import_and_export_are_cancelled_at_once(api, carol, guideline):
    api.force_authenticate(carol)
    job = ImportJob.objects.create(format="alpaca", guideline=guideline, file="x")
    snapshot = DatasetSnapshot.objects.create(kind="sft")

    imports = api.post(f"/api/imports/{job.pk}/cancel/")
    exports = api.post(f"/api/exports/{snapshot.pk}/cancel/")
    again = api.post(f"/api/imports/{job.pk}/cancel/")

    assert imports.status_code == 200 and imports.json()["status"] == "cancelled"
    assert exports.status_code == 200 and exports.json()["status"] == "cancelled"
    assert again.status_code == 409


@pytest.mark.django_db
def test_a_running_import_is_asked_to_stop(api, carol, guideline):
    api.force_authenticate(carol)
    job = ImportJob.objects.create(
        format="alpaca", guideline=guideline, file="x", status="running", attempts=1
    )
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())

    answer = api.post(f"/api/imports/{job.pk}/cancel/")

    assert answer.status_code == 200
    assert answer.json()["status"] == "running" and answer.json()["cancel_requested"] is True
