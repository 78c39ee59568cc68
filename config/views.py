"""The home page: each role sees where its work is."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.roles import Role, user_roles
from guidelines.models import Guideline, GuidelineVersion
from labeling.models import Prompt
from trainer.models import TrainingRun


@login_required
def home(request: HttpRequest) -> HttpResponse:
    roles = user_roles(request.user)
    context: dict[str, object] = {"roles": roles}
    if Role.LABELER in roles or Role.REVIEWER in roles:
        context["guidelines"] = (
            Guideline.objects.filter(versions__status=GuidelineVersion.Status.PUBLISHED)
            .distinct()
            .order_by("title")
        )
    if Role.LABELER in roles:
        context["my_prompt_count"] = Prompt.objects.filter(author=request.user).count()
    if Role.ADMIN in roles:
        context["prompt_count"] = Prompt.objects.count()
        context["active_runs"] = TrainingRun.objects.filter(
            status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
        ).count()
    return render(request, "platform/home.html", context)
