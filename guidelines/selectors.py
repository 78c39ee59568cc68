from guidelines.models import Guideline, GuidelineVersion


def version_current_published(*, guideline: Guideline) -> GuidelineVersion | None:
    """The newest published version: the one new work is done under."""
    return (
        guideline.versions.filter(status=GuidelineVersion.Status.PUBLISHED)
        .order_by("-number")
        .first()
    )
