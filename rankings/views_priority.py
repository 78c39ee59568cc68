"""The ranking queue's page for admins: each guideline's order and weights, the open
tasks' uncertainty and where last week's rankings went."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.permissions import role_required
from accounts.roles import Role
from config.errors import InputError
from guidelines.models import Guideline
from rankings.models import QueuePriority
from rankings.priority import HIGH_UNCERTAINTY, per_day
from rankings.priority_report import queue_priority_report
from rankings.priority_settings import WEIGHTS, queue_priority_set


@role_required(Role.ADMIN)
def queue_priority_page(request: HttpRequest) -> HttpResponse:
    errors: dict[int, str] = {}
    status = 200
    if request.method == "POST":
        chosen = request.POST.get("guideline", "")
        guideline = get_object_or_404(
            Guideline, pk=int(chosen) if chosen.isascii() and chosen.isdigit() else 0
        )
        changes = {
            field: request.POST[field] for field in ("order", *WEIGHTS) if field in request.POST
        }
        try:
            _, sent = queue_priority_set(guideline=guideline, changes=changes, user=request.user)
        except InputError as exc:
            errors[guideline.pk] = str(exc)
            status = 400
        else:
            messages.success(
                request,
                f"Saved. The open ranking tasks of {guideline.title} are being re-ordered."
                if sent
                else f"Saved. The job queue is not answering: the open ranking tasks of "
                f"{guideline.title} will be re-ordered once it is back.",
            )
            return redirect("rankings-queue-priority-page")
    report = queue_priority_report()
    for row in report:
        row["error"] = errors.get(row["guideline"], "")
        tallest = max((bar["tasks"] for bar in row["uncertainty_bars"]), default=0)
        for bar in row["uncertainty_bars"]:
            bar["percent"] = round(100 * bar["tasks"] / tallest) if tallest else 0
    return render(
        request,
        "rankings/queue_priority.html",
        {
            "report": report,
            "orders": QueuePriority.Order.choices,
            "high_uncertainty": HIGH_UNCERTAINTY,
            "per_day": per_day(),
        },
        status=status,
    )
