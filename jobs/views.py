"""The jobs page: every kind of job that failed, got stuck or waits too long, each with a
retry (or cancel) button that goes through the same services as the API."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role
from jobs.selectors import job_label, job_model, jobs_needing_attention
from jobs.services import JobStateError, job_cancel, job_requeue

admins = role_required(Role.ADMIN)


@admins
def jobs_page(request: HttpRequest) -> HttpResponse:
    rows = jobs_needing_attention()
    return render(
        request,
        "jobs/jobs.html",
        {"section": "jobs", "rows": rows, "stuck": sum(r.state == "stuck" for r in rows)},
    )


def _job(kind: str, pk: int):  # type: ignore[no-untyped-def]
    model = job_model(kind)
    job = model.objects.filter(pk=pk).first() if model else None
    if job is None:
        raise Http404(f"No {kind} {pk}.")
    return job


@require_POST
@admins
def job_retry_view(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    return _act(request, kind, pk, job_requeue, "queued again")


@require_POST
@admins
def job_cancel_view(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    return _act(request, kind, pk, job_cancel, "cancelled")


def _act(request: HttpRequest, kind: str, pk: int, action, done: str) -> HttpResponse:  # type: ignore[no-untyped-def]
    job = _job(kind, pk)
    name = f"{job_label(type(job))} {pk}"
    try:
        action(job)
    except JobStateError as exc:
        # Someone else's click (or the recovery) got there first: say so, change nothing.
        messages.error(request, f"{name}: {exc}")
    else:
        messages.success(request, f"{name} {done}.")
    return redirect("jobs-page")
