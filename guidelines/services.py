from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from guidelines.models import Guideline, GuidelineVersion


@transaction.atomic
def version_draft_create(
    *, guideline: Guideline, body: str, summary: str, author: AbstractBaseUser | None
) -> GuidelineVersion:
    """A new draft numbered after the guideline's last version.

    The guideline row is locked first so two admins writing at once get 1, 2 rather than
    both computing the same next number (the unique constraint is the backstop).
    """
    Guideline.objects.select_for_update().get(pk=guideline.pk)
    last = guideline.versions.aggregate(last=Max("number"))["last"] or 0
    return GuidelineVersion.objects.create(
        guideline=guideline, number=last + 1, body=body, summary=summary, created_by=author
    )


@transaction.atomic
def version_publish(*, version: GuidelineVersion) -> GuidelineVersion:
    """Publish a draft. Drafts only: a published version never changes."""
    locked = GuidelineVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status != GuidelineVersion.Status.DRAFT:
        raise ValueError(f"{locked} is {locked.status}, only drafts can be published")
    locked.status = GuidelineVersion.Status.PUBLISHED
    locked.published_at = timezone.now()
    locked.save(update_fields=["status", "published_at"])
    return locked
