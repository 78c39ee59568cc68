"""Dashboard pages that turn the flywheel: datasets, training runs, model versions,
generation and the playground."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.views import admins


@admins
def datasets(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/datasets.html", {"section": "datasets"})


@admins
def training(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/training.html", {"section": "training"})


@admins
def playground(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/playground.html", {"section": "playground"})
