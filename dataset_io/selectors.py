"""Reading dataset jobs for the pages: a fixed number of queries however many jobs there are."""

from django.db.models import QuerySet

from dataset_io.models import DatasetSnapshot, ImportJob
from guidelines.models import Guideline, GuidelineVersion
from jobs.models import JobStatus


def guidelines_importable() -> QuerySet[Guideline]:
    """Imported data is filed under a guideline with a published version to cite."""
    return (
        Guideline.objects.filter(versions__status=GuidelineVersion.Status.PUBLISHED)
        .distinct()
        .order_by("title")
    )


def imports_recent(*, limit: int = 50) -> QuerySet[ImportJob]:
    # The error report holds up to a thousand lines per job; a list shows only its count.
    return ImportJob.objects.select_related("guideline").defer("errors")[:limit]


def snapshots_recent(*, limit: int = 50) -> QuerySet[DatasetSnapshot]:
    return DatasetSnapshot.objects.defer("card")[:limit]


def snapshots_latest_by_kind() -> list[tuple[DatasetSnapshot, str]]:
    """The newest published snapshot of each kind, with the kind's label: one query per
    kind, however many snapshots there are."""
    latest = []
    for kind, label in DatasetSnapshot.Kind.choices:
        snapshot = DatasetSnapshot.objects.filter(kind=kind, status=JobStatus.SUCCEEDED).first()
        if snapshot:
            latest.append((snapshot, label))
    return latest
