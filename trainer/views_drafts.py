"""The page of one drafts job: where the Jobs page links it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.permissions import role_required
from accounts.roles import Role
from jobs.services import FINISHED
from trainer.models import DraftJob


@role_required(Role.ADMIN)
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
