"""Dashboard pages about the data and the people. Each view is short: it asks a selector
for the numbers and renders."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import role_required
from accounts.roles import Role

admins = role_required(Role.ADMIN)


@admins
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/overview.html", {"section": "overview"})


@admins
def people(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/people.html", {"section": "people"})


@admins
def schedules(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/schedules.html", {"section": "schedules"})
