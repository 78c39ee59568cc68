"""Celery tasks of the trainer app: take ids, re-fetch, call the service."""

from celery import shared_task

from trainer.exporting import snapshot_export
from trainer.importing import import_run


@shared_task(name="trainer.tasks.import_file", acks_late=True)
def import_file(job_id: int) -> None:
    # A job already claimed by another delivery is left alone (import_run returns None).
    import_run(job_id=job_id)


@shared_task(name="trainer.tasks.export_snapshot", acks_late=True)
def export_snapshot(snapshot_id: int) -> None:
    snapshot_export(snapshot_id=snapshot_id)
