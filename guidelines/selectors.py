from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery

from accounts.roles import Role
from guidelines.models import Acknowledgement, Guideline, GuidelineVersion

PUBLISHED = GuidelineVersion.Status.PUBLISHED


def version_current_published(*, guideline: Guideline) -> GuidelineVersion | None:
    """The newest published version: the one new work is done under."""
    return guideline.versions.filter(status=PUBLISHED).order_by("-number").first()


def version_visible(*, is_admin: bool) -> QuerySet[GuidelineVersion]:
    """Drafts are admins' work in progress; everyone sees published and retired versions."""
    versions = GuidelineVersion.objects.select_related("guideline")
    return versions if is_admin else versions.exclude(status=GuidelineVersion.Status.DRAFT)


def guideline_list_with_current() -> QuerySet[Guideline]:
    """Guidelines annotated with `current_number`, the newest published version (or None)."""
    return Guideline.objects.annotate(
        current_number=Max("versions__number", filter=Q(versions__status=PUBLISHED))
    ).order_by("title")


def versions_awaiting_acknowledgement(*, user: AbstractBaseUser) -> list[GuidelineVersion]:
    """Current versions `user` has not acknowledged yet, for the change banner, each with
    `read_before`: whether they acknowledged an earlier version of its guideline (then
    there is a change to show them; otherwise the whole text is new to them)."""
    newest = (
        GuidelineVersion.objects.filter(guideline=OuterRef("guideline"), status=PUBLISHED)
        .order_by("-number")
        .values("number")[:1]
    )
    current = GuidelineVersion.objects.filter(status=PUBLISHED, number=Subquery(newest))
    acknowledged = Acknowledgement.objects.filter(user=user).values("version_id")
    read_before = Acknowledgement.objects.filter(
        user=user, version__guideline=OuterRef("guideline")
    )
    return list(
        current.exclude(pk__in=acknowledged)
        .annotate(read_before=Exists(read_before))
        .select_related("guideline")
        .order_by("guideline__title")
    )


def version_last_acknowledged(
    *, user: AbstractBaseUser, guideline: Guideline
) -> GuidelineVersion | None:
    """The newest version of `guideline` that `user` has read: where "what changed" starts."""
    return (
        GuidelineVersion.objects.filter(guideline=guideline, acknowledgements__user=user)
        .order_by("-number")
        .first()
    )


def acknowledgement_table(
    *, guideline: Guideline
) -> tuple[list[GuidelineVersion], list[dict[str, object]]]:
    """Who has read which published version: a row per labeler and reviewer, in 3 queries."""
    versions = list(
        guideline.versions.exclude(status=GuidelineVersion.Status.DRAFT).order_by("number")
    )
    people = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=[Role.LABELER, Role.REVIEWER]))
        .distinct()
        .order_by("username")
    )
    read = {
        (ack["user_id"], ack["version_id"]): ack["acknowledged_at"]
        for ack in Acknowledgement.objects.filter(version__in=versions).values(
            "user_id", "version_id", "acknowledged_at"
        )
    }
    rows = [
        {"user": person, "read": [read.get((person.pk, v.pk)) for v in versions]}
        for person in people
    ]
    return versions, rows


def versions_current_with_acknowledgement(
    *, user: AbstractBaseUser
) -> list[tuple[GuidelineVersion, bool]]:
    """Every guideline's current version, with whether `user` has read it, in one query."""
    newest = (
        GuidelineVersion.objects.filter(guideline=OuterRef("guideline"), status=PUBLISHED)
        .order_by("-number")
        .values("number")[:1]
    )
    read = Acknowledgement.objects.filter(user=user, version=OuterRef("pk"))
    versions = (
        GuidelineVersion.objects.filter(status=PUBLISHED, number=Subquery(newest))
        .select_related("guideline")
        .annotate(read=Exists(read))
        .order_by("guideline__title")
    )
    return [(version, version.read) for version in versions]
