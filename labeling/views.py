"""Labelers' and reviewers' pages: take a task, write or review, see your own work."""

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role
from config.errors import InputError
from guidelines.models import Guideline
from guidelines.selectors import version_last_acknowledged
from guidelines.services import GuidelineNotAcknowledged
from labeling.drafts import draft_offered
from labeling.models import Demonstration, LabelerProfile, Prompt, Review, Task
from labeling.queue import QueueError, assignment_held, task_next_for_user, task_skip
from labeling.selectors import demonstration_for_review, demonstrations_of_author, labeler_totals
from labeling.services import (
    demonstration_revise,
    demonstration_submit,
    profile_set_opt_outs,
    prompt_create,
    review_submit,
)
from labeling.task_kinds import kind_description, kind_refusal
from labeling.validation import seconds_checked

# What the task page posts as draft_id for the draft a prompt arrived with (no Draft row):
# an empty draft_id would mean "the draft offered now", which may be one made since.
OWN_DRAFT = "own"

labelers = role_required(Role.LABELER, Role.ADMIN)
workers = role_required(Role.LABELER, Role.REVIEWER, Role.ADMIN)


@workers
def task_next(request: HttpRequest, kind: str) -> HttpResponse:
    """POST: lease the next task of `kind` and open it, or say why there is none.

    A GET only shows the button that POSTs (pressed by a small script as the page loads):
    link prefetchers, crawlers and a cross-site <img> must never take a task from the queue.
    """
    if kind_description(kind) is None:
        return redirect("home")
    refusal = kind_refusal(kind, request.user)
    if refusal is not None:
        raise PermissionDenied(refusal)
    if request.method != "POST":
        return render(request, "labeling/take_task.html", {"kind": kind})
    try:
        assignment = task_next_for_user(user=request.user, kind=kind)
    except GuidelineNotAcknowledged as missing:
        # The version's page says what to do: a message here would say it a third time.
        version = missing.version
        return redirect(
            reverse("guidelines-current", args=[version.guideline.slug])
            + "?next="
            + reverse("labeling-next", args=[kind])
        )
    if assignment is None:
        return render(request, "labeling/no_task.html", {"kind": kind})
    return redirect("labeling-task", task_id=assignment.task_id)


@workers
def task_page(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        assignment = assignment_held(user=request.user, task_id=task_id)
    except QueueError as exc:
        messages.error(request, str(exc))
        return redirect("home")
    task = assignment.task
    description = kind_description(task.kind)
    if description is not None and description.page != request.resolver_match.url_name:
        return redirect(description.page, task_id=task.pk)  # a kind with a page of its own
    # A role taken away while the lease was held takes the task with it.
    refusal = kind_refusal(task.kind, request.user)
    if refusal is not None:
        raise PermissionDenied(refusal)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            return _submit(request, task)
        except (InputError, QueueError) as exc:
            errors[getattr(exc, "field", "form")] = str(exc)
    return render(
        request,
        "labeling/task.html",
        {
            "task": task,
            "prompt": task.prompt,
            "assignment": assignment,
            "version": version_last_acknowledged(user=request.user, guideline=task.guideline),
            "content": request.POST.get("content", assignment.draft),
            "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
            # The clock resumes from what the page kept with the lease.
            "time_spent_s": request.POST.get("time_spent_s", assignment.time_spent_s),
            "started_from_draft": request.POST.get("started_from_draft", "0"),
            "model_draft": draft_offered(prompt=task.prompt),
            # A sensitive prompt asked for without the page's script (?shown=1).
            "shown": request.GET.get("shown") == "1",
            "under_review": (
                demonstration_for_review(task.demonstration) if task.demonstration else None
            ),
            "errors": errors,
            "verdicts": Review.Verdict.choices,
            "reasons": Review.Reason.choices,
        },
        status=400 if errors else 200,
    )


def _submit(request: HttpRequest, task: Task) -> HttpResponse:
    time_spent = seconds_checked(request.POST.get("time_spent_s", 0))
    if task.kind == Task.Kind.DEMONSTRATION:
        demonstration_submit(
            author=request.user,
            task_id=task.pk,
            content=request.POST.get("content", ""),
            time_spent_s=time_spent,
            idempotency_key=request.POST.get("idempotency_key", ""),
            started_from_draft=request.POST.get("started_from_draft") == "1",
            claimed_draft_id=_draft_id(request.POST.get("draft_id", "")),
            claimed_own_draft=request.POST.get("draft_id") == OWN_DRAFT,
        )
        messages.success(request, "Submitted. Here is your next task.")
    else:
        review_submit(
            reviewer=request.user,
            demonstration_id=task.demonstration_id,
            verdict=request.POST.get("verdict", ""),
            reasons=request.POST.getlist("reasons"),
            comment=request.POST.get("comment", ""),
            time_spent_s=time_spent,
        )
        messages.success(request, "Review saved. Here is the next one.")
    return redirect("labeling-next", kind=task.kind)


def _draft_id(raw: str) -> int | None:
    """The Draft row the page offered; None for the prompt's own draft (OWN_DRAFT)."""
    if not raw or raw == OWN_DRAFT:
        return None
    # isascii: isdigit() holds for "²" too, which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InputError("draft", "Not a draft id.")
    return int(raw)


@require_POST
@workers
def task_skip_page(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        assignment = task_skip(user=request.user, task_id=task_id)
    except QueueError as exc:
        messages.error(request, str(exc))
        return redirect("home")
    messages.info(request, "Skipped: you will not be offered that task again.")
    return redirect("labeling-next", kind=assignment.task.kind)


@labelers
def prompt_write(request: HttpRequest) -> HttpResponse:
    """Write a new prompt: optional system prompt, then one or more turns ending on the user."""
    guidelines = Guideline.objects.filter(versions__status="published").distinct().order_by("title")
    errors: dict[str, str] = {}
    roles, contents = request.POST.getlist("turn_role"), request.POST.getlist("turn_content")
    if request.method == "POST":
        messages_ = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=False)]
        system = request.POST.get("system", "")
        if system.strip():
            messages_.insert(0, {"role": "system", "content": system})
        guideline = guidelines.filter(slug=request.POST.get("guideline", "")).first()
        try:
            if guideline is None:
                raise InputError("guideline", "Choose a guideline.")
            prompt = prompt_create(
                author=request.user,
                guideline=guideline,
                messages=messages_,
                category=request.POST.get("category", Prompt.Category.OTHER),
                language=request.POST.get("language", "en").strip() or "en",
                sensitive_category=request.POST.get("sensitive_category", ""),
            )
        except GuidelineNotAcknowledged as missing:
            return redirect(
                reverse("guidelines-current", args=[missing.version.guideline.slug])
                + "?next="
                + reverse("labeling-prompt-new")
            )
        except InputError as exc:
            errors[exc.field] = str(exc)
        else:
            if prompt.near_duplicates:
                messages.warning(
                    request,
                    "Saved, and flagged: a very similar prompt already exists: “"
                    + prompt.near_duplicates[0].text[:120]
                    + "”",
                )
            else:
                messages.success(request, "Prompt saved.")
            return redirect("labeling-prompt-new")
    turns = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=False)] or [
        {"role": "user", "content": ""}
    ]
    return render(
        request,
        "labeling/prompt_new.html",
        {
            "guidelines": guidelines,
            "errors": errors,
            "turns": turns,
            "form": request.POST,
            "categories": Prompt.Category.choices,
            "sensitivities": Prompt.Sensitivity.choices,
        },
        status=400 if errors else 200,
    )


# Reviewers too: the page keeps everyone's sensitive-content opt-outs.
@workers
def my_work(request: HttpRequest) -> HttpResponse:
    demonstrations = (
        demonstrations_of_author(author=request.user)
        .select_related("prompt")
        .prefetch_related("reviews")
    )
    profile = LabelerProfile.objects.filter(user=request.user).first()
    if request.method == "POST":
        try:
            profile_set_opt_outs(user=request.user, categories=request.POST.getlist("opt_outs"))
        except InputError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Your sensitive-content choices are saved.")
        return redirect("labeling-mine")
    return render(
        request,
        "labeling/mine.html",
        {
            "demonstrations": demonstrations,
            "totals": labeler_totals(author=request.user),
            "sensitivities": [c for c in Prompt.Sensitivity.choices if c[0]],
            "opt_outs": profile.sensitive_opt_outs if profile else [],
        },
    )


@labelers
def demonstration_revise_page(request: HttpRequest, demonstration_id: int) -> HttpResponse:
    demonstration = get_object_or_404(Demonstration, pk=demonstration_id, author=request.user)
    error = ""
    if request.method == "POST":
        try:
            demonstration_revise(
                author=request.user,
                demonstration_id=demonstration.pk,
                content=request.POST.get("content", ""),
                time_spent_s=seconds_checked(request.POST.get("time_spent_s", 0)),
            )
        except (InputError, QueueError) as exc:
            error = str(exc)
        else:
            messages.success(request, "Revision submitted for review.")
            return redirect("labeling-mine")
    return render(
        request,
        "labeling/revise.html",
        {
            "demonstration": demonstration,
            "reviews": demonstration.reviews.select_related("reviewer"),
            "content": request.POST.get("content", demonstration.content),
            "error": error,
        },
        status=400 if error else 200,
    )
