"""The model page (a version, its evaluations and a form to start one) and the page of
one evaluation, where the Jobs page links it."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render

from accounts.permissions import role_required
from accounts.roles import Role
from jobs.services import FINISHED
from sources.models import ModelSource
from trainer.api_evaluations import (
    EvaluationInputSerializer,
    EvaluationSerializer,
    evaluations_data,
)
from trainer.evaluations import DEFAULT_PROMPTS, evaluation_create
from trainer.ml.methods import POLICY, method_kinds_producing
from trainer.models import EvaluationJob, ModelVersion
from trainer.views_training import errors_by_form_field, form_job_started

admins = role_required(Role.ADMIN)


def _evaluation_input(
    post: QueryDict, version: ModelVersion
) -> tuple[dict[str, object], dict[str, str]]:
    """The form as the API's input: `judge` is "reward", "human" or source:<id>."""
    errors: dict[str, str] = {}
    data: dict[str, object] = {"model": version.pk, "baseline": post.get("baseline", "")}
    judge = post.get("judge", "")
    kind, _, source_id = judge.partition(":")
    if kind == "source" and source_id.isascii() and source_id.isdigit():
        data["judge"] = int(source_id)
    elif judge in (EvaluationJob.Judge.REWARD, EvaluationJob.Judge.HUMAN):
        data["judge"] = judge
    else:
        errors["judge"] = "Choose the reward model, people or a model source."
    text = post.get("limit", "").strip()
    limit = int(text) if text.isascii() and text.isdigit() else None
    if text and limit is None:
        errors["limit"] = "A whole number."
    data["filters"] = {
        # 0 is asked for, and refused by the service, not taken as "unset".
        "limit": DEFAULT_PROMPTS if limit is None else limit,
        "held_out": post.get("held_out") == "on" or "baseline" not in post,
    }
    return data, errors


@admins
def model_page(request: HttpRequest, model_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion.objects.select_related("run"), pk=model_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        job, errors = form_job_started(
            request,
            _evaluation_input(request.POST, version),
            EvaluationInputSerializer,
            evaluation_create,
        )
        if job is not None:
            messages.success(request, f"Evaluation {job.pk} was queued.")
            return redirect("trainer-evaluation-page", job_id=job.pk)
    ancestors = version.lineage()[1:]
    return render(
        request,
        "trainer/model.html",
        {
            "section": "training",
            "version": version,
            "parent": ancestors[0] if ancestors else None,
            "answers": version.produces == POLICY,
            "evaluations": evaluations_data(EvaluationJob.objects.filter(model=version)[:50]),
            "baselines": ModelVersion.objects.filter(
                kind__in=method_kinds_producing(POLICY)
            ).exclude(pk=version.pk)[:100],
            "judges": [
                (EvaluationJob.Judge.REWARD.value, "The promoted reward model"),
                (
                    EvaluationJob.Judge.HUMAN.value,
                    "People (blind comparisons in the ranking queue)",
                ),
                *[
                    (f"source:{s.pk}", f"AI judge: {s.name} ({s.model})")
                    for s in ModelSource.objects.order_by("name")
                ],
            ],
            "chosen_judge": request.POST.get("judge", EvaluationJob.Judge.REWARD.value),
            "chosen_baseline": request.POST.get("baseline")
            or (str(ancestors[0].pk) if ancestors else ""),
            "form": request.POST,
            "limit_hint": f"How many prompts; {DEFAULT_PROMPTS} unless set.",
            "errors": errors_by_form_field(errors),
        },
        status=400 if errors else 200,
    )


@admins
def evaluation_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(
        EvaluationJob.objects.select_related("model", "baseline", "created_by"), pk=job_id
    )
    return render(
        request,
        "trainer/evaluation.html",
        {
            "section": "training",
            "job": job,
            "result": EvaluationSerializer(job, context={"detail": True}).data,
            "finished": job.status in FINISHED,
            "percent": round(job.progress * 100),
        },
    )
