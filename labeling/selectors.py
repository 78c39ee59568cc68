from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from guidelines.diff import side_by_side
from guidelines.markdown import render_markdown
from labeling.models import Assignment, Demonstration, Prompt


def prompt_list(*, filters: Mapping[str, str]) -> QuerySet[Prompt]:
    prompts = Prompt.objects.select_related("guideline", "guideline_version").order_by("-id")
    for field in ("category", "language", "source", "sensitive_category"):
        if field in filters:
            prompts = prompts.filter(**{field: filters[field]})
    if "guideline" in filters:
        prompts = prompts.filter(guideline__slug=filters["guideline"])
    return prompts


def demonstrations_of_author(*, author: AbstractBaseUser) -> QuerySet[Demonstration]:
    return (
        Demonstration.objects.filter(author=author)
        .select_related("guideline_version")
        .order_by("-id")
    )


def labeler_totals(*, author: AbstractBaseUser) -> dict[str, object]:
    """Counts by status, time on task and, where a pay per task is set, pay per hour."""
    from django.conf import settings
    from django.db.models import Count, Sum

    rows = Demonstration.objects.filter(author=author).values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows}
    seconds = Demonstration.objects.filter(author=author).aggregate(s=Sum("time_spent_s"))["s"] or 0
    totals: dict[str, object] = {
        "by_status": by_status,
        "count": sum(by_status.values()),
        "hours": seconds / 3600,
        "pay_per_hour": None,
    }
    rate = settings.LABELING_PAY_PER_APPROVED
    if rate is not None and seconds:
        totals["pay_per_hour"] = rate * by_status.get("approved", 0) / (seconds / 3600)
    return totals


def demonstration_task_payload(assignment: Assignment) -> dict[str, object]:
    """A demonstration task adds nothing to the prompt and draft every task payload has."""
    return {}


def review_task_payload(assignment: Assignment) -> dict[str, object]:
    """The demonstration under review, at the revision the reviewer judges."""
    demonstration = assignment.task.demonstration
    return {
        "demonstration": {
            "id": demonstration.pk,
            "content": demonstration.content,
            "revision": demonstration.revision,
        }
    }


def demonstration_for_review(demonstration: Demonstration) -> dict[str, object]:
    """The reply as the reviewer reads it (Markdown rendered and sanitized, as the labeler
    previewed it) and, for a revision, what changed since the review that sent it back,
    with that review's verdict and comment."""
    earlier = (
        demonstration.reviews.filter(revision__lt=demonstration.revision)
        .exclude(reviewed_content="")
        .order_by("-revision", "-id")
        .first()
    )
    changes = None
    if earlier is not None:
        changes = {
            "revision": earlier.revision,
            "verdict": earlier.get_verdict_display(),
            "comment": earlier.comment,
            "rows": side_by_side(earlier.reviewed_content, demonstration.content),
        }
    return {"html": render_markdown(demonstration.content), "changes": changes}
