from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from guidelines.diff import side_by_side
from guidelines.markdown import render_reply
from labeling.models import Assignment, Demonstration, Prompt, Review
from labeling.pay import pay_per_hour


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
    """Their demonstrations by status, reviews and rankings, time on task and, where a pay
    per item is set, their effective pay per hour (labeling.pay)."""
    from django.db.models import Count, Sum

    rows = Demonstration.objects.filter(author=author).values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows}
    spent = Sum("time_spent_s", default=0)
    # Rankings are the rankings app's, above this one: read through the user's reverse
    # relation, so this module imports none of it.
    work = {
        "demonstrations": Demonstration.objects.filter(author=author).aggregate(
            n=Count("id"), s=spent
        ),
        "reviews": Review.objects.filter(reviewer=author).aggregate(n=Count("id"), s=spent),
        "rankings": author.rankings.aggregate(n=Count("id"), s=spent),
    }
    seconds = {kind: figures["s"] for kind, figures in work.items()}
    earning = {kind: figures["n"] for kind, figures in work.items()}
    earning["demonstrations"] = by_status.get(Demonstration.Status.APPROVED, 0)
    return {
        "by_status": by_status,
        "count": sum(by_status.values()),
        "reviews": work["reviews"]["n"],
        "rankings": work["rankings"]["n"],
        "hours": sum(seconds.values()) / 3600,
        "pay_per_hour": pay_per_hour(earning=earning, seconds=seconds),
    }


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


# Past this many lines on either side, a line diff (quadratic at worst) is not worth the
# page's time: the reviewer reads the new text whole.
DIFF_MAX_LINES = 400


def _comparable(old: str, new: str) -> bool:
    return max(old.count("\n"), new.count("\n")) < DIFF_MAX_LINES


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
    if earlier is not None and _comparable(earlier.reviewed_content, demonstration.content):
        changes = {
            "revision": earlier.revision,
            "verdict": earlier.get_verdict_display(),
            "comment": earlier.comment,
            "rows": side_by_side(earlier.reviewed_content, demonstration.content),
        }
    return {"html": render_reply(demonstration.content), "changes": changes}
