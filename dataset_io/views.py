"""Dataset pages for admins: import a file, start an export, follow both, download the files.

The forms are validated by the API's own serializers and the jobs started by the same
services, so a page and a script that send the same input get the same job.
"""

from pathlib import Path

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role
from config.form_errors import field_errors
from dataset_io.api import MAX_UPLOAD_BYTES, ExportInputSerializer, ImportInputSerializer
from dataset_io.models import DatasetSnapshot, ImportJob
from dataset_io.selectors import (
    guidelines_importable,
    imports_recent,
    snapshots_latest_by_kind,
    snapshots_recent,
)
from dataset_io.services import import_job_create, snapshot_create, snapshot_run_again
from guidelines.markdown import render_markdown
from guidelines.models import Guideline
from jobs.models import JobStatus
from jobs.services import FINISHED
from labeling.models import Demonstration, Prompt

admins = role_required(Role.ADMIN)

# The page offers "Run again" only for exports that ended without a snapshot. The API also
# takes a stuck "running" one; here a second click on the button must not queue it twice.
RUN_AGAIN = (JobStatus.FAILED, JobStatus.CANCELLED)
# Filters typed as comma-separated text; the others are ticked boxes or single values.
TEXT_LIST_FILTERS = ("guideline_versions", "languages", "sources")
CHECKED_FILTERS = ("statuses", "categories")
SINGLE_FILTERS = ("guideline", "source", "min_agreement", "created_after", "created_before")


@admins
def datasets_index(request: HttpRequest) -> HttpResponse:
    """The one Datasets page: the newest snapshot of each kind (what a training run of
    that kind trains on), with its card, then the recent imports and exports."""
    latest = [
        {"snapshot": snapshot, "label": label, "card": render_markdown(snapshot.card)}
        for snapshot, label in snapshots_latest_by_kind()
    ]
    return render(
        request,
        "datasets/index.html",
        {
            "section": "datasets",
            "kinds": DatasetSnapshot.Kind.choices,
            "latest": latest,
            "imports": imports_recent(),
            "snapshots": snapshots_recent(),
        },
    )


def datasets_dashboard_moved(request: HttpRequest) -> HttpResponse:
    # The Datasets page was once two, one of them under /dashboard/: its links still work.
    return redirect("datasets-index", permanent=True)


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
            messages.success(request, f"Import {job.pk} was queued.")
            return redirect("datasets-import-page", job_id=job.pk)
        errors = field_errors(payload.errors)
    guidelines = list(guidelines_importable())
    return render(
        request,
        "datasets/import_new.html",
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
    return render(request, "datasets/import.html", {"job": job, "finished": job.status in FINISHED})


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
            return redirect("datasets-export-page", snapshot_id=snapshot.pk)
        errors = field_errors(payload.errors)
    return render(
        request,
        "datasets/export_new.html",
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
        "datasets/export.html",
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
    return redirect("datasets-export-page", snapshot_id=snapshot.pk)
