"""The AI feedback pages: start a rater over a guideline's comparisons or prompts, and the
page of one job, where the Jobs page links it, showing what the rater said item by item."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render

from accounts.permissions import role_required
from accounts.roles import Role
from ai_feedback.api import AIFeedbackInputSerializer
from ai_feedback.models import AIFeedbackJob
from ai_feedback.services import DEFAULT_ITEMS, ai_feedback_create
from guidelines.models import Guideline
from jobs.services import FINISHED
from labeling.models import Prompt
from trainer.views_drafts import generative_origins, origin_errors, origin_form_input
from trainer.views_training import form_job_started

admins = role_required(Role.ADMIN)


def _form_input(post: QueryDict) -> tuple[dict[str, object], dict[str, str]]:
    data, errors = origin_form_input(post, default_limit=DEFAULT_ITEMS, filters=("category",))
    data.update(kind=post.get("kind", ""), guideline=post.get("guideline", ""))
    sections = [line.strip() for line in post.get("sections", "").splitlines() if line.strip()]
    if sections:
        data["sections"] = sections
    return data, errors


@admins
def ai_feedback_list(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        job, errors = form_job_started(
            request, _form_input(request.POST), AIFeedbackInputSerializer, ai_feedback_create
        )
        if job is not None:
            messages.success(request, f"AI feedback {job.pk} was queued.")
            return redirect("ai-feedback-page", job_id=job.pk)
    errors = origin_errors(errors)
    return render(
        request,
        "ai_feedback/list.html",
        {
            "section": "training",
            "origins": generative_origins(),
            "kinds": AIFeedbackJob.Kind.choices,
            "guidelines": Guideline.objects.order_by("slug"),
            "categories": Prompt.Category.choices,
            "jobs": AIFeedbackJob.objects.select_related("guideline_version__guideline").defer(
                "failures", "made"
            )[:50],
            "form": request.POST,
            "default_items": DEFAULT_ITEMS,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@admins
def ai_feedback_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(
        AIFeedbackJob.objects.select_related("created_by", "guideline_version__guideline"),
        pk=job_id,
    )
    return render(
        request,
        "ai_feedback/job.html",
        {
            "section": "training",
            "job": job,
            "finished": job.status in FINISHED,
            "percent": round(job.progress * 100),
            "rankings": job.rankings.filter(made="ranked").select_related("comparison")[:200],
            "critiques": job.critiques.all()[:200],
            "failures": sorted(job.failures.items(), key=lambda item: int(item[0])),
        },
    )
