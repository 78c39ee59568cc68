"""Starting dataset jobs: the one path the API and the pages share.

Each job is queued only once its row is committed, so a worker never looks for a job the
database does not show it yet, and a rolled-back request queues nothing.
"""

import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from dataset_io.models import DatasetSnapshot, ImportJob
from guidelines.models import Guideline
from jobs.services import BrokerUnavailable, job_requeue, job_send


def _upload_save(upload: UploadedFile) -> Path:
    folder = Path(settings.DATA_DIR) / "uploads" / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    # A name of our own: the uploader's file name is only shown, never used as a path.
    target = folder / f"{uuid.uuid4().hex}.jsonl"
    with target.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return target


def import_job_create(
    *,
    upload: UploadedFile,
    format: str,
    guideline: Guideline,
    strict: bool,
    created_by: AbstractBaseUser,
) -> ImportJob:
    """Keep the uploaded file under DATA_DIR and queue a job that imports it."""
    target = _upload_save(upload)
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                format=format,
                guideline=guideline,
                strict=strict,
                file=str(target.relative_to(settings.DATA_DIR)),
                original_name=(upload.name or "")[:255],
                created_by=created_by,
            )
            job_send(job)
    except BrokerUnavailable:
        # The row is gone (job_send deleted it): so goes the file only it pointed at.
        target.unlink(missing_ok=True)
        raise
    return job


def snapshot_create(
    *,
    kind: str,
    filters: dict[str, object],
    options: dict[str, object],
    created_by: AbstractBaseUser,
) -> DatasetSnapshot:
    """Queue an export; `filters` and `options` are stored as given, so they must be JSON."""
    with transaction.atomic():
        snapshot = DatasetSnapshot.objects.create(
            kind=kind, filters=filters, options=options, created_by=created_by
        )
        job_send(snapshot)
    return snapshot


def snapshot_run_again(*, snapshot: DatasetSnapshot) -> DatasetSnapshot:
    """Queue an export that failed, was cancelled or is stuck (its worker died); the new
    attempt clears what the last one left half-written. JobStateError (a ValueError) for
    a published, queued or running one."""
    return job_requeue(snapshot)
