"""Dataset pages for admins: import a file, start an export, follow both, download the files.

The forms are validated by the API's own serializers and the jobs started by the same
services, so a page and a script that send the same input get the same job.
"""

from collections.abc import Mapping
from pathlib import Path

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role
from guidelines.markdown import render_markdown
from guidelines.models import Guideline
from labeling.models import Demonstration, Prompt
from trainer.api import MAX_UPLOAD_BYTES, ExportInputSerializer, ImportInputSerializer
from trainer.models import DatasetSnapshot, ImportJob, JobStatus
from trainer.selectors import guidelines_importable, imports_recent, snapshots_recent
from trainer.services import import_job_create, snapshot_create, snapshot_run_again

admins = role_required(Role.ADMIN)

FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
# The page offers "Run again" only for exports that ended without a snapshot. The API also
# takes a stuck "running" one; here a second click on the button must not queue it twice.
RUN_AGAIN = (JobStatus.FAILED, JobStatus.CANCELLED)
# Filters typed as comma-separated text; the others are ticked boxes or single values.
TEXT_LIST_FILTERS = ("guideline_versions", "languages", "sources")
CHECKED_FILTERS = ("statuses", "categories")
SINGLE_FILTERS = ("guideline", "min_agreement", "created_after", "created_before")


def field_errors(errors: Mapping) -> dict[str, str]:
    """DRF's nested errors as one message per form field.

    The export form names its fields flat (`min_agreement`, not `filters.min_agreement`);
    the names of filters and options never collide, so the nesting can be dropped.
    """
    flat: dict[str, str] = {}
    for field, detail in errors.items():
        if isinstance(detail, Mapping) and all(isinstance(key, int) for key in detail):
            # A list field reports its bad items by position.
            flat[field] = " ".join(
                f"Item {index + 1}: {' '.join(map(str, item))}" for index, item in detail.items()
            )
        elif isinstance(detail, Mapping):
            flat.update(field_errors(detail))
        else:
            flat[field] = " ".join(map(str, detail))
    return flat


@admins
def datasets_index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "trainer/index.html",
        {"imports": imports_recent(), "snapshots": snapshots_recent()},
    )


def _import_input(request: HttpRequest) -> dict[str, object]:
    # Empty fields are left out, so the serializer says "required" or picks the only
    # guideline, as it does for the API.
    data: dict[str, object] = {
        name: request.POST[name] for name in ("format", "guideline") if request.POST.get(name)
    }
    data["strict"] = request.POST.get("strict") == "on"
    if "file" in request.FILES:
        data["file"] = request.FILES["file"]
    return data


@admins
def import_new(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        payload = ImportInputSerializer(data=_import_input(request))
        if payload.is_valid():
            job = import_job_create(**payload.job_fields(), created_by=request.user)
            messages.success(request, f"Import {job.pk} is queued.")
            return redirect("trainer-import-page", job_id=job.pk)
        errors = field_errors(payload.errors)
    guidelines = list(guidelines_importable())
    return render(
        request,
        "trainer/import_new.html",
        {
            "formats": ImportJob.Format.choices,
            "guidelines": guidelines,
            "chosen_guideline": request.POST.get("guideline")
            or (guidelines[0].slug if len(guidelines) == 1 else ""),
            "max_mib": MAX_UPLOAD_BYTES // 2**20,
            "form": request.POST,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@admins
def import_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("guideline", "created_by"), pk=job_id)
    return render(request, "trainer/import.html", {"job": job, "finished": job.status in FINISHED})


def _export_input(post: QueryDict) -> dict[str, object]:
    filters: dict[str, object] = {}
    for name in TEXT_LIST_FILTERS:
        items = [item.strip() for item in post.get(name, "").split(",") if item.strip()]
        if items:
            filters[name] = items
    for name in CHECKED_FILTERS:
        if post.getlist(name):
            filters[name] = post.getlist(name)
    for name in SINGLE_FILTERS:
        if post.get(name, "").strip():
            filters[name] = post[name].strip()
    options: dict[str, object] = {"gzip": post.get("gzip") == "on"}
    for name in ("pairs", "validation_permille"):
        if post.get(name, "").strip():
            options[name] = post[name].strip()
    data: dict[str, object] = {"filters": filters, "options": options}
    if post.get("kind"):
        data["kind"] = post["kind"]
    return data


@admins
def export_new(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        payload = ExportInputSerializer(data=_export_input(request.POST))
        if payload.is_valid():
            snapshot = snapshot_create(**payload.snapshot_fields(), created_by=request.user)
            messages.success(request, f"Export {snapshot.pk} is queued.")
            return redirect("trainer-export-page", snapshot_id=snapshot.pk)
        errors = field_errors(payload.errors)
    return render(
        request,
        "trainer/export_new.html",
        {
            "kinds": DatasetSnapshot.Kind.choices,
            "guidelines": Guideline.objects.order_by("title"),
            "statuses": Demonstration.Status.choices,
            "categories": Prompt.Category.choices,
            "form": request.POST,
            "checked": {name: request.POST.getlist(name) for name in CHECKED_FILTERS},
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@admins
def export_page(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    snapshot = get_object_or_404(
        DatasetSnapshot.objects.select_related("created_by"), pk=snapshot_id
    )
    files = [
        {
            "split": split,
            "name": Path(relative).name,
            "rows": snapshot.counts.get(split),
            "sha256": snapshot.sha256.get(split, ""),
        }
        for split, relative in snapshot.files.items()
    ]
    return render(
        request,
        "trainer/export.html",
        {
            "snapshot": snapshot,
            "finished": snapshot.status in FINISHED,
            "can_run_again": snapshot.status in RUN_AGAIN,
            "files": files if snapshot.status == JobStatus.SUCCEEDED else [],
            "export_settings": [
                (name, ", ".join(map(str, value)) if isinstance(value, list) else value)
                for name, value in [*snapshot.filters.items(), *snapshot.options.items()]
            ],
            "card_html": render_markdown(snapshot.card) if snapshot.card else "",
        },
    )


@admins
@require_POST
def export_run_again(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    snapshot = get_object_or_404(DatasetSnapshot, pk=snapshot_id)
    if snapshot.status not in RUN_AGAIN:
        messages.error(request, f"Export {snapshot.pk} is {snapshot.status}; nothing to run again.")
    else:
        snapshot_run_again(snapshot=snapshot)
        messages.success(request, f"Export {snapshot.pk} is queued again.")
    return redirect("trainer-export-page", snapshot_id=snapshot.pk)
