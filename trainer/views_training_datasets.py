"""The dashboard's Datasets page (/dashboard/datasets/): the newest snapshot of each kind,
with its card, and the recent exports; the snapshots the training page trains on."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import role_required
from accounts.roles import Role
from guidelines.markdown import render_markdown
from trainer.models import DatasetSnapshot, JobStatus
from trainer.selectors import snapshots_recent

admins = role_required(Role.ADMIN)


@admins
def datasets(request: HttpRequest) -> HttpResponse:
    latest = []
    for kind, label in DatasetSnapshot.Kind.choices:
        snapshot = DatasetSnapshot.objects.filter(kind=kind, status=JobStatus.SUCCEEDED).first()
        if snapshot:
            latest.append(
                {"snapshot": snapshot, "label": label, "card": render_markdown(snapshot.card)}
            )
    return render(
        request,
        "trainer/datasets.html",
        {
            "section": "datasets",
            "kinds": DatasetSnapshot.Kind.choices,
            "latest": latest,
            "snapshots": snapshots_recent(limit=20),
        },
    )
