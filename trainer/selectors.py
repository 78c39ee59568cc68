"""Reading dataset jobs for the pages: a fixed number of queries however many jobs there are."""

from django.db.models import QuerySet

from guidelines.models import Guideline, GuidelineVersion
from trainer.models import DatasetSnapshot, ImportJob


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
