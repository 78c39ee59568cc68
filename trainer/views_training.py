"""Dashboard pages that turn the flywheel: training runs, model versions and generation.

Every form goes through the API's own serializers and services, so a page and a script
that send the same input start the same job or get the same field errors."""

from collections.abc import Callable, Mapping
from typing import TypeVar

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.serializers import Serializer

from accounts.permissions import role_required
from accounts.roles import Role
from config.errors import InputError
from config.form_errors import field_errors
from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from jobs.services import FINISHED
from sources.models import ModelSource
from trainer.api_training import GenerationInputSerializer, TrainingRunInputSerializer
from trainer.best_of import MAX_BEST_OF, reward_figures
from trainer.curves import run_charts
from trainer.evaluation_results import evaluations_latest
from trainer.generation import DEFAULT_PROMPTS, generation_create
from trainer.ml.defaults import (
    FROM_SCRATCH_LR,
    LARGE_PARAMETERS,
    LARGE_PRETRAINED_LR,
    LORA_LR,
    PRETRAINED_LR,
)
from trainer.ml.methods import (
    POLICY,
    REWARD,
    TrainingMethod,
    method_kinds_producing,
    training_method_choices,
    training_methods,
)
from trainer.model_dirs import local_bases
from trainer.models import GenerationJob, ModelVersion, TrainingRun
from trainer.training import model_promote, training_run_cancel, training_run_create

admins = role_required(Role.ADMIN)


def _rate(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-")


def lr_defaults_hint() -> str:
    """How an unset learning rate follows the base (trainer.ml.defaults), in words."""
    return (
        f"Peak learning rate; unless set, {_rate(FROM_SCRATCH_LR)} for the built-in tiny "
        f"model (trained from scratch), {_rate(PRETRAINED_LR)} for a pretrained base "
        f"(a model version or directory), {_rate(LARGE_PRETRAINED_LR)} for one over "
        f"{LARGE_PARAMETERS // 1_000_000_000}B parameters; {_rate(LORA_LR)} for LoRA on a "
        "pretrained base."
    )


# The settings the run form offers, as (name, label, hint); the API takes a few more.
RUN_SETTINGS = [
    ("max_steps", "Steps", "Optimizer steps; when set, epochs are ignored."),
    ("epochs", "Epochs", "Passes over the training data; default 1."),
    ("lr", "Learning rate", lr_defaults_hint()),
    ("batch_size", "Batch size", "Conversations (SFT) or ranked groups (reward, DPO) per step."),
    ("max_length", "Maximum length", "Tokens per sequence; default 256."),
    ("log_every", "Log every", "Steps between the points of the loss curve; default 5."),
    ("eval_every", "Evaluate every", "Steps between held-out evaluations; 0: at the end only."),
]
# LoRA (trainer.ml.lora), in a fieldset of its own: rank 0 leaves it off.
LORA_SETTINGS = [
    ("lora_r", "LoRA rank", "0 or empty: fine-tune every weight; 8 or 16 trains small adapters."),
    ("lora_alpha", "LoRA alpha", "Adapter scale alpha / rank; default twice the rank."),
    ("lora_dropout", "LoRA dropout", "Dropout on the adapters' input, from 0 to below 1; 0.05."),
]
# Comma-separated layer names, the one setting of the form that is not a number.
LORA_TARGETS = (
    "lora_target_modules",
    "LoRA layers",
    "Comma-separated, such as q_proj,v_proj; empty: the base's attention and feed-forward "
    "projections.",
)
# Bookkeeping more than quality: left out of the side-by-side table of model metrics.
QUIET_METRICS = {
    "step",
    "lr",
    "grad_norm",
    "tokens",
    "sequences",
    "pairs",
    "samples",
    "reply_tokens",
    "elapsed_s",
}
GENERATION_NUMBERS = ("k", "temperature", "top_p", "max_new_tokens", "overlap", "best_of")
# The generation form's model choice for candidates from model sources alone.
NO_MODEL = "none"

T = TypeVar("T")


def errors_by_form_field(errors: Mapping[str, str]) -> dict[str, str]:
    """Service errors name the API's fields (`config.lr`, `filters.limit`); the forms call
    them by their own names."""
    renamed = {
        "filters.limit": "limit",
        "filters": "limit",
        "prompts": "limit",
        "source": "sources",
        "sources.k": "sources",
    }
    return {renamed.get(name, name.removeprefix("config.")): text for name, text in errors.items()}


def form_job_started(
    request: HttpRequest,
    form_input: tuple[dict[str, object], dict[str, str]],
    serializer_class: type[Serializer],
    start: Callable[..., T],
) -> tuple[T | None, dict[str, str]]:
    """What the API does with a form's input (the data and the fields that did not even
    parse): check it with the API's serializer, then start the job with the service, whose
    arguments are the serializer's fields (the forms send no prompt ids). The job, or every
    error found before the service and the service's own."""
    data, errors = form_input
    payload = serializer_class(data=data)
    if not payload.is_valid():
        errors = {**field_errors(payload.errors), **errors}
    if errors:
        return None, errors
    try:
        return start(**payload.validated_data, created_by=request.user), {}
    except InputError as exc:
        return None, {exc.field: str(exc)}


def _next_or(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return fallback


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _own_settings(method: TrainingMethod) -> list[tuple[str, str, str]]:
    """A method's own settings (DPO's beta) as the form's (name, label, hint)."""
    return [(setting.name, setting.label, setting.hint) for setting in method.settings]


def _run_input(post: QueryDict) -> tuple[dict[str, object], dict[str, str]]:
    """The run form as the API's input, and the fields that are not even numbers. Of the
    methods' own settings, only the chosen kind's are sent: the others' stay in the form."""
    errors: dict[str, str] = {}
    config: dict[str, object] = {}
    kind = post.get("kind", "")
    own = [s for m in training_methods() if m.name == kind for s in _own_settings(m)]
    for name, _, _ in RUN_SETTINGS + LORA_SETTINGS + own:
        text = post.get(name, "").strip()
        if text:
            try:
                config[name] = _number(text)
            except ValueError:
                errors[name] = "A number."
    targets = [t.strip() for t in post.get(LORA_TARGETS[0], "").split(",") if t.strip()]
    if targets:
        config[LORA_TARGETS[0]] = targets
    base = post.get("base", "builtin")
    base_model = {
        "builtin": "",
        "model": f"model:{post.get('base_version', '')}",
        "dir": post.get("base_dir", ""),
        "path": post.get("base_path", "").strip(),
    }.get(base, "")
    data: dict[str, object] = {"kind": post.get("kind", ""), "base_model": base_model}
    data["config"] = config
    if post.get("snapshot"):
        data["snapshot"] = post["snapshot"]
    return data, errors


def _form_fields(
    post: QueryDict, settings: list[tuple[str, str, str]], errors: Mapping[str, str]
) -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "label": label,
            "hint": hint,
            "value": post.get(name, ""),
            "error": errors.get(name),
        }
        for name, label, hint in settings
    ]


@admins
def training(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        run, errors = form_job_started(
            request, _run_input(request.POST), TrainingRunInputSerializer, training_run_create
        )
        if run is not None:
            messages.success(request, f"Run {run.pk} was queued.")
            return redirect("trainer-run-page", run_id=run.pk)
    trainable = {kind for method in training_methods() for kind in method.snapshot_kinds}
    errors = errors_by_form_field(errors)
    return render(
        request,
        "trainer/training.html",
        {
            "section": "training",
            "kinds": training_method_choices(),
            "snapshots": DatasetSnapshot.objects.filter(
                status=JobStatus.SUCCEEDED, kind__in=trainable
            ).defer("card")[:50],
            "versions": ModelVersion.objects.all()[:100],
            "local_bases": [
                {"base": base, "rate": _rate(base.lr)} for base in local_bases() if base.usable
            ],
            "run_settings": _form_fields(request.POST, RUN_SETTINGS, errors),
            "lora_settings": _form_fields(request.POST, LORA_SETTINGS, errors),
            "lora_targets": _form_fields(request.POST, [LORA_TARGETS], errors)[0],
            "method_settings": [
                {"method": m, "fields": _form_fields(request.POST, _own_settings(m), errors)}
                for m in training_methods()
                if m.settings
            ],
            "runs": TrainingRun.objects.select_related("model")
            .defer("history", "logs", "config")
            .order_by("-created_at")[:50],
            "form": request.POST,
            "base": request.POST.get("base", "builtin"),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _time_left(run: TrainingRun) -> str:
    # training-run.js words it the same way while the run goes on.
    if run.status in FINISHED:
        return "finished"
    if run.eta_s is None:
        return "time left not known yet"
    if run.eta_s < 90:
        return f"about {round(run.eta_s)} s left"
    return f"about {round(run.eta_s / 60)} min left"


@admins
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(
        TrainingRun.objects.select_related("model", "snapshot", "created_by"), pk=run_id
    )
    version = getattr(run, "model", None)
    return render(
        request,
        "trainer/run.html",
        {
            "section": "training",
            "run": run,
            "version": version,
            "finished": run.status in FINISHED,
            "percent": round(run.progress * 100),
            "eta": _time_left(run),
            "charts": run_charts(run.history, total_steps=run.total_steps, kind=run.kind),
            "metrics": sorted(run.metrics.items()),
        },
    )


@admins
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=run_id)
    try:
        training_run_cancel(run=run)
    except InputError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run {run.pk}: cancel asked for.")
    return redirect("trainer-run-page", run_id=run.pk)


def _metric_columns(versions: list[ModelVersion]) -> list[str]:
    names = {
        name
        for version in versions
        for name, value in version.metrics.items()
        if name not in QUIET_METRICS and isinstance(value, int | float)
    }
    # Accuracy first, then losses, then the rest: what decides a promotion comes first.
    return sorted(names, key=lambda n: (not n.endswith("accuracy"), not n.endswith("loss"), n))


@admins
def models(request: HttpRequest) -> HttpResponse:
    versions = list(ModelVersion.objects.select_related("run", "snapshot")[:200])
    latest = evaluations_latest(versions)
    tables = []
    for kind, label in training_method_choices():
        of_kind = [v for v in versions if v.kind == kind]
        columns = _metric_columns(of_kind)
        tables.append(
            {
                "kind": kind,
                "label": label,
                "columns": columns,
                "rows": [
                    {
                        "version": v,
                        "cells": [v.metrics.get(name) for name in columns],
                        "evaluation": latest.get(v.pk),
                    }
                    for v in of_kind
                ],
            }
        )
    return render(request, "trainer/models.html", {"section": "training", "tables": tables})


@admins
@require_POST
def model_promote_view(request: HttpRequest, model_id: int) -> HttpResponse:
    version = model_promote(version=get_object_or_404(ModelVersion, pk=model_id))
    # One policy and one reward model are promoted, whichever method made them.
    what = {POLICY: "policy", REWARD: "reward model"}.get(version.produces or "", version.kind)
    messages.success(request, f"{version.name} is now the promoted {what}.")
    return redirect(_next_or(request, "trainer-models-page"))


def _generation_sources(
    post: QueryDict, sources: list[ModelSource]
) -> tuple[list[dict[str, int]], dict[str, str]]:
    """The sources given a number of replies on the form (`source_<id>`), as the API's
    `sources`; an empty field leaves its source out."""
    chosen, errors = [], {}
    for source in sources:
        text = post.get(f"source_{source.pk}", "").strip()
        if not text:
            continue
        try:
            chosen.append({"source": source.pk, "k": int(text)})
        except ValueError:
            errors[f"source_{source.pk}"] = "A whole number."
    return chosen, errors


def _generation_input(
    post: QueryDict, sources: list[ModelSource], promoted: ModelVersion | None
) -> tuple[dict[str, object], dict[str, str]]:
    data: dict[str, object] = {
        name: post[name].strip() for name in GENERATION_NUMBERS if post.get(name, "").strip()
    }
    chosen, errors = _generation_sources(post, sources)
    model = post.get("model", "")
    if model == NO_MODEL:
        if not chosen and not errors:
            errors["sources"] = "Give at least one source a number of replies, or choose a model."
    elif model:
        data["model"] = model
    elif chosen:
        # The API takes sources without a model as sources alone: name the promoted
        # model, which the form offers as our model's default.
        if promoted is None:
            errors["model"] = (
                "No policy (SFT, DPO or RL model) is promoted: promote one first, or choose one."
            )
        else:
            data["model"] = promoted.pk
    if chosen:
        data["sources"] = chosen
    try:
        data["filters"] = {"limit": int(post.get("limit", "").strip() or DEFAULT_PROMPTS)}
    except ValueError:
        errors["limit"] = "A whole number."
    return data, errors


@admins
def generations(request: HttpRequest) -> HttpResponse:
    # What generation can sample from: versions of any method that makes a policy.
    policy_versions = ModelVersion.objects.filter(kind__in=method_kinds_producing(POLICY))
    # The one the service samples from when no model is named.
    promoted = policy_versions.filter(promoted=True).first()
    sources = list(ModelSource.objects.order_by("name"))
    errors: dict[str, str] = {}
    if request.method == "POST":
        job, errors = form_job_started(
            request,
            _generation_input(request.POST, sources, promoted),
            GenerationInputSerializer,
            generation_create,
        )
        if job is not None:
            messages.success(request, f"Generation {job.pk} was queued.")
            return redirect("trainer-generation-page", job_id=job.pk)
    errors = errors_by_form_field(errors)
    return render(
        request,
        "trainer/generations.html",
        {
            "section": "training",
            "versions": policy_versions[:100],
            "promoted": promoted,
            "no_model": NO_MODEL,
            "source_fields": [
                {
                    "source": source,
                    "name": f"source_{source.pk}",
                    "value": request.POST.get(f"source_{source.pk}", ""),
                    "error": errors.get(f"source_{source.pk}"),
                }
                for source in sources
            ],
            "jobs": GenerationJob.objects.select_related("model")[:50],
            "form": request.POST,
            "default_prompts": DEFAULT_PROMPTS,
            "best_of_hint": (
                f"Empty: file every reply. Else sample this many per prompt (K to {MAX_BEST_OF}, "
                "all origins together) and keep the K the promoted reward model scores highest."
            ),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@admins
def generation_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(
        GenerationJob.objects.select_related("model", "created_by", "reward_model"), pk=job_id
    )
    return render(
        request,
        "trainer/generation.html",
        {
            "section": "training",
            "job": job,
            "finished": job.status in FINISHED,
            "percent": round(job.progress * 100),
            "comparisons": [c for c in job.filed.values() if c],
            "best_of": reward_figures(job) if job.best_of else None,
        },
    )
