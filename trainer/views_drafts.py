"""The drafts pages: start a drafts job from a model version or a model source, and the
page of one job, where the Jobs page links it."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render

from accounts.permissions import role_required
from accounts.roles import Role
from guidelines.models import Guideline
from jobs.services import FINISHED
from labeling.models import Prompt
from sources.models import ModelSource
from trainer.api_drafts import DraftsInputSerializer
from trainer.drafts import drafts_create
from trainer.generation import DEFAULT_PROMPTS
from trainer.ml.methods import POLICY, method_kinds_producing
from trainer.models import DraftJob, ModelVersion
from trainer.views_training import errors_by_form_field, form_job_started

admins = role_required(Role.ADMIN)
DRAFT_NUMBERS = ("temperature", "top_p", "max_new_tokens")


def origin_form_input(
    post: QueryDict, *, default_limit: int, filters: tuple[str, ...]
) -> tuple[dict[str, object], dict[str, str]]:
    """What every form that asks one generative model about some prompts sends: `origin`
    as the API's `model` or `source` (the form's one choice of both kinds, `model:<id>` or
    `source:<id>`), and `filters` with `limit` and the named choices that were made."""
    data: dict[str, object] = {}
    errors: dict[str, str] = {}
    kind, _, origin_id = post.get("origin", "").partition(":")
    if kind in ("model", "source") and origin_id:
        data[kind] = origin_id
    else:
        errors["origin"] = "Choose a model or a model source."
    chosen: dict[str, object] = {}
    try:
        chosen["limit"] = int(post.get("limit", "").strip() or default_limit)
    except ValueError:
        errors["limit"] = "A whole number."
    for name in filters:
        if post.get(name):
            chosen[name] = post[name]
    data["filters"] = chosen
    return data, errors


def origin_errors(errors: dict[str, str]) -> dict[str, str]:
    """A job names exactly one of a model and a source: both point at the form's one
    choice, `origin`."""
    for name in ("model", "source"):
        if name in errors:
            errors["origin"] = errors.pop(name)
    return errors_by_form_field(errors)


def _drafts_input(post: QueryDict) -> tuple[dict[str, object], dict[str, str]]:
    data, errors = origin_form_input(
        post, default_limit=DEFAULT_PROMPTS, filters=("guideline", "category")
    )
    data.update({name: post[name].strip() for name in DRAFT_NUMBERS if post.get(name, "").strip()})
    return data, errors


def generative_origins() -> list[tuple[str, list[tuple[str, str]]]]:
    """The generative models a job can ask (drafts, AI feedback), grouped for the form's one
    choice: the policy model versions and the model sources."""
    versions = ModelVersion.objects.filter(kind__in=method_kinds_producing(POLICY))[:100]
    return [
        (
            "SFT model versions",
            [(f"model:{v.pk}", f"{v.name} (promoted)" if v.promoted else v.name) for v in versions],
        ),
        (
            "Model sources",
            [(f"source:{s.pk}", f"{s.name} ({s.model})") for s in ModelSource.objects.all()],
        ),
    ]


@admins
def drafts(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        job, errors = form_job_started(
            request, _drafts_input(request.POST), DraftsInputSerializer, drafts_create
        )
        if job is not None:
            messages.success(request, f"Drafts {job.pk} are queued.")
            return redirect("trainer-drafts-page", job_id=job.pk)
    errors = origin_errors(errors)
    return render(
        request,
        "trainer/drafts_list.html",
        {
            "section": "training",
            "origins": generative_origins(),
            "guidelines": Guideline.objects.order_by("slug"),
            "categories": Prompt.Category.choices,
            "jobs": DraftJob.objects.select_related("created_by").defer("failures")[:50],
            "form": request.POST,
            "default_prompts": DEFAULT_PROMPTS,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@admins
def drafts_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(DraftJob.objects.select_related("created_by"), pk=job_id)
    return render(
        request,
        "trainer/drafts.html",
        {
            "section": "training",
            "job": job,
            "finished": job.status in FINISHED,
            "percent": round(job.progress * 100),
            "failures": sorted(job.failures.items(), key=lambda item: int(item[0])),
        },
    )
