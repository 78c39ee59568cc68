"""Celery tasks of the datasets app: take ids, re-fetch, call the service."""

from celery import shared_task
from django.conf import settings

from dataset_io.exporting import snapshot_export, snapshots_export_if_changed
from dataset_io.importing import import_run


@shared_task(name="dataset_io.tasks.import_file", acks_late=True)
def import_file(job_id: int) -> None:
    # A job already claimed by another delivery is left alone (import_run returns None).
    import_run(job_id=job_id)


@shared_task(name="dataset_io.tasks.export_snapshot", acks_late=True)
def export_snapshot(snapshot_id: int) -> None:
    snapshot_export(snapshot_id=snapshot_id)


@shared_task(name="dataset_io.tasks.export_when_changed", acks_late=True)
def export_when_changed() -> list[int]:
    """Beat runs this on the schedule in the admin (hourly unless changed there)."""
    made = snapshots_export_if_changed(kinds=settings.EXPORT_SCHEDULED_KINDS)
    return [snapshot.pk for snapshot in made]
