"""Writes to guidelines. Every rule about versions lives here (and, for immutability, in
the database triggers of migration 0003)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from config.errors import PlatformError
from guidelines.markdown import render_markdown
from guidelines.models import Acknowledgement, Guideline, GuidelineVersion
from guidelines.selectors import version_current_published


class GuidelineError(PlatformError):
    """A request the guideline rules refuse; the message is for the person who asked."""


class VersionNotEditable(GuidelineError):
    status = 409


class GuidelineNotAcknowledged(GuidelineError):
    """The user must read and acknowledge `version` before working under it; the API's
    answer says where to read it and where to acknowledge it."""

    status = 403
    code = "guideline_not_acknowledged"

    def __init__(self, version: GuidelineVersion):
        self.version = version
        super().__init__(
            f"Read and acknowledge {version.guideline.title} version {version.number} "
            "before taking work under it."
        )

    def payload(self) -> dict[str, object]:
        slug, number = self.version.guideline.slug, self.version.number
        return {
            "guideline": slug,
            "version": number,
            "read": f"/guidelines/{slug}/",
            "acknowledge": f"/api/guidelines/{slug}/versions/{number}/acknowledge/",
        }


class NoPublishedVersion(GuidelineError):
    status = 409

    def __init__(self, guideline: Guideline):
        self.guideline = guideline
        super().__init__(f"Guideline {guideline.slug!r} has no published version yet.")


def guideline_create(*, slug: str, title: str) -> Guideline:
    return Guideline.objects.create(slug=slug, title=title)


@transaction.atomic
def version_draft_create(
    *, guideline: Guideline, body: str, summary: str, author: AbstractBaseUser | None
) -> GuidelineVersion:
    """A new draft numbered after the guideline's last version.

    The guideline row is locked first so that two admins writing at once get n and n + 1
    rather than both computing n (the unique constraint is the backstop).
    """
    Guideline.objects.select_for_update().get(pk=guideline.pk)
    last = guideline.versions.aggregate(last=Max("number"))["last"] or 0
    return GuidelineVersion.objects.create(
        guideline=guideline,
        number=last + 1,
        body=body,
        html=render_markdown(body),
        summary=summary,
        created_by=author,
    )


@transaction.atomic
def version_draft_update(
    *, version: GuidelineVersion, body: str | None = None, summary: str | None = None
) -> GuidelineVersion:
    locked = GuidelineVersion.objects.select_for_update().get(pk=version.pk)
    if not locked.is_draft:
        raise VersionNotEditable(
            f"{locked.guideline.slug} v{locked.number} is {locked.status}: "
            "published versions never change, write a new version instead."
        )
    fields = []
    if body is not None:
        locked.body, locked.html = body, render_markdown(body)
        fields += ["body", "html"]
    if summary is not None:
        locked.summary = summary
        fields.append("summary")
    if fields:
        locked.save(update_fields=fields)
    return locked


@transaction.atomic
def version_publish(*, version: GuidelineVersion) -> GuidelineVersion:
    """Publish a draft; it becomes the version new work is done under.

    Locking the guideline serializes publishes of one guideline, so "is there a newer
    published version" is answered against committed data.
    """
    Guideline.objects.select_for_update().get(pk=version.guideline_id)
    locked = GuidelineVersion.objects.get(pk=version.pk)
    if not locked.is_draft:
        raise VersionNotEditable(f"v{locked.number} is already {locked.status}.")
    current = version_current_published(guideline=locked.guideline)
    if current is not None and current.number > locked.number:
        raise VersionNotEditable(
            f"v{current.number} is already published and newer than this draft "
            f"(v{locked.number}); write a new version from v{current.number} instead."
        )
    locked.status = GuidelineVersion.Status.PUBLISHED
    locked.published_at = timezone.now()
    locked.save(update_fields=["status", "published_at"])
    return locked


@transaction.atomic
def version_retire(*, version: GuidelineVersion) -> GuidelineVersion:
    """Take a published version out of use; labels made under it keep pointing at it."""
    locked = GuidelineVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status != GuidelineVersion.Status.PUBLISHED:
        raise VersionNotEditable(
            f"Only published versions can be retired; v{locked.number} is {locked.status}."
        )
    locked.status = GuidelineVersion.Status.RETIRED
    locked.retired_at = timezone.now()
    locked.save(update_fields=["status", "retired_at"])
    return locked


def acknowledgement_create(*, user: AbstractBaseUser, version: GuidelineVersion) -> Acknowledgement:
    """Record that `user` read `version`. Acknowledging twice keeps the first record."""
    if version.is_draft:
        raise GuidelineError("Drafts cannot be acknowledged; wait until the version is published.")
    try:
        with transaction.atomic():
            return Acknowledgement.objects.create(user=user, version=version)
    except IntegrityError:
        return Acknowledgement.objects.get(user=user, version=version)


def acknowledgement_require(*, user: AbstractBaseUser, guideline: Guideline) -> GuidelineVersion:
    """The version to stamp new work with, once `user` has acknowledged it.

    Raises NoPublishedVersion, or GuidelineNotAcknowledged naming the version to read.
    """
    version = version_current_published(guideline=guideline)
    if version is None:
        raise NoPublishedVersion(guideline)
    if not Acknowledgement.objects.filter(user=user, version=version).exists():
        raise GuidelineNotAcknowledged(version)
    return version
