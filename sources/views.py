"""The model sources page (admins): the servers registered, a check of each that shows
whether it answers and how fast, and a form to add one. Never the key: the form takes
it and no page shows it again."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role
from config.errors import InputError
from config.form_errors import field_errors
from sources.api import SourceInputSerializer
from sources.models import ModelSource
from sources.services import SourceCheck, SourceNameTaken, source_check, source_create

admins = role_required(Role.ADMIN)
# The form's fields that may be left empty: the API's defaults then apply.
OPTIONAL = ("api_key", "max_concurrency", "timeout_s")


def _sources_render(
    request: HttpRequest,
    *,
    errors: dict[str, str] | None = None,
    checked: tuple[int, SourceCheck] | None = None,
) -> HttpResponse:
    # What was typed goes back into the form after an error, but never the key.
    form = {name: value for name, value in request.POST.items() if name != "api_key"}
    return render(
        request,
        "sources/sources.html",
        {
            "section": "sources",
            "sources": ModelSource.objects.all(),
            "checked_id": checked[0] if checked else None,
            "check": checked[1] if checked else None,
            "form": form if errors else {},
            "errors": errors or {},
        },
        status=400 if errors else 200,
    )


def _source_added(request: HttpRequest) -> tuple[ModelSource | None, dict[str, str]]:
    data = {
        name: value
        for name, value in request.POST.items()
        if name in SourceInputSerializer().fields and (value.strip() or name not in OPTIONAL)
    }
    payload = SourceInputSerializer(data=data)
    if not payload.is_valid():
        return None, field_errors(payload.errors)
    try:
        return source_create(created_by=request.user, **payload.validated_data), {}
    except InputError as exc:
        return None, {exc.field: str(exc)}
    except SourceNameTaken as exc:
        return None, {"name": str(exc)}


@admins
def sources_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        source, errors = _source_added(request)
        if source is not None:
            messages.success(request, f"Source {source.name} is added: check that it answers.")
            return redirect("sources-page")
        return _sources_render(request, errors=errors)
    return _sources_render(request)


@admins
@require_POST
def source_check_page(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_object_or_404(ModelSource, pk=source_id)
    return _sources_render(request, checked=(source.pk, source_check(source=source)))
