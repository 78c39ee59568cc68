"""Guideline pages: read, acknowledge, history and diffs for everyone; writing for admins."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role, user_has_role
from guidelines.diff import side_by_side, unified_diff, version_pair_from_query
from guidelines.models import Guideline, GuidelineVersion
from guidelines.selectors import (
    acknowledgement_table,
    guideline_list_with_current,
    version_current_published,
    version_last_acknowledged,
    version_visible,
)
from guidelines.services import (
    GuidelineError,
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_draft_update,
    version_publish,
    version_retire,
)

admin_only = role_required(Role.ADMIN)


def _version(request: HttpRequest, slug: str, number: int) -> GuidelineVersion:
    is_admin = user_has_role(request.user, Role.ADMIN)
    return get_object_or_404(
        version_visible(is_admin=is_admin), guideline__slug=slug, number=number
    )


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
def guideline_index(request: HttpRequest) -> HttpResponse:
    return render(request, "guidelines/index.html", {"guidelines": guideline_list_with_current()})


@login_required
def guideline_current(request: HttpRequest, slug: str) -> HttpResponse:
    guideline = get_object_or_404(Guideline, slug=slug)
    version = version_current_published(guideline=guideline)
    if version is None:
        if user_has_role(request.user, Role.ADMIN):
            return redirect("guidelines-history", slug=slug)
        return render(
            request, "guidelines/none_published.html", {"guideline": guideline}, status=404
        )
    return _render_version(request, version)


@login_required
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return _render_version(request, _version(request, slug, number))


def _render_version(request: HttpRequest, version: GuidelineVersion) -> HttpResponse:
    guideline = version.guideline
    last_read = version_last_acknowledged(user=request.user, guideline=guideline)
    current = version_current_published(guideline=guideline)
    return render(
        request,
        "guidelines/version.html",
        {
            "guideline": guideline,
            "version": version,
            "is_current": current is not None and current.pk == version.pk,
            "acknowledged": version.acknowledgements.filter(user=request.user).exists(),
            "last_read": last_read,
            "next": _safe_next(request, ""),
            # The page is the gate for this version: the change banner stays off it.
            "reading_version_id": version.pk,
        },
    )


@login_required
def guideline_history(request: HttpRequest, slug: str) -> HttpResponse:
    guideline = get_object_or_404(Guideline, slug=slug)
    is_admin = user_has_role(request.user, Role.ADMIN)
    versions = version_visible(is_admin=is_admin).filter(guideline=guideline).order_by("-number")
    return render(
        request, "guidelines/history.html", {"guideline": guideline, "versions": versions}
    )


@login_required
def guideline_diff(request: HttpRequest, slug: str) -> HttpResponse:
    guideline = get_object_or_404(Guideline, slug=slug)
    pair = version_pair_from_query(request.GET)
    if pair is None:
        messages.error(request, "Choose two versions to compare.")
        return redirect("guidelines-history", slug=slug)
    old, new = _version(request, slug, pair[0]), _version(request, slug, pair[1])
    acknowledged = new.acknowledgements.filter(user=request.user).exists()
    return render(
        request,
        "guidelines/diff.html",
        {
            "guideline": guideline,
            "old": old,
            "new": new,
            "rows": side_by_side(old.body, new.body),
            "unified": unified_diff(
                old.body, new.body, old_label=f"v{old.number}", new_label=f"v{new.number}"
            ),
            "can_acknowledge": not new.is_draft and not acknowledged,
            "next": _safe_next(request, ""),
        },
    )


@require_POST
@login_required
def version_acknowledge(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = _version(request, slug, number)
    try:
        acknowledgement_create(user=request.user, version=version)
    except GuidelineError as exc:
        messages.error(request, str(exc))
        return redirect("guidelines-version", slug=slug, number=number)
    messages.success(
        request, f"Thank you: you have read {version.guideline.title} v{version.number}."
    )
    return redirect(_safe_next(request, "/"))


@admin_only
def guideline_new(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        slug, title = request.POST.get("slug", "").strip(), request.POST.get("title", "").strip()
        # The same rule as the <slug:> URLs the guideline will live at: ASCII only.
        if not re.fullmatch(r"[-a-zA-Z0-9_]{1,64}", slug):
            errors["slug"] = "1 to 64 ASCII letters, digits, - and _."
        elif Guideline.objects.filter(slug=slug).exists():
            errors["slug"] = "A guideline with this slug exists."
        if not title or len(title) > 200:
            errors["title"] = "A title of 1 to 200 characters is required."
        if not errors:
            guideline = guideline_create(slug=slug, title=title)
            return redirect("guidelines-write", slug=guideline.slug)
    return render(
        request,
        "guidelines/new.html",
        {"errors": errors, "form": request.POST},
        status=400 if errors else 200,
    )


@admin_only
def version_write(request: HttpRequest, slug: str, number: int | None = None) -> HttpResponse:
    """A new draft (prefilled from the current version) or an edit of an existing draft."""
    guideline = get_object_or_404(Guideline, slug=slug)
    draft = _version(request, slug, number) if number is not None else None
    if draft is not None and not draft.is_draft:
        messages.error(
            request, "Published versions never change; this starts a new version from it."
        )
        return redirect("guidelines-write", slug=slug)
    base = draft or version_current_published(guideline=guideline)
    body, summary, error = (base.body if base else ""), (draft.summary if draft else ""), ""
    if request.method == "POST":
        body, summary = request.POST.get("body", ""), request.POST.get("summary", "").strip()[:500]
        if not body.strip():
            error = "The body is empty."
        else:
            if draft is None:
                draft = version_draft_create(
                    guideline=guideline, body=body, summary=summary, author=request.user
                )
            else:
                draft = version_draft_update(version=draft, body=body, summary=summary)
            messages.success(request, f"Saved draft v{draft.number}.")
            return redirect("guidelines-version", slug=slug, number=draft.number)
    return render(
        request,
        "guidelines/write.html",
        {
            "guideline": guideline,
            "draft": draft,
            "body": body,
            "summary": summary,
            "error": error,
        },
        status=400 if error else 200,
    )


@require_POST
@admin_only
def version_publish_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return _transition(request, slug, number, version_publish, "Published")


@require_POST
@admin_only
def version_retire_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return _transition(request, slug, number, version_retire, "Retired")


def _transition(request, slug, number, service, verb):  # type: ignore[no-untyped-def]
    try:
        version = service(version=_version(request, slug, number))
    except GuidelineError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{verb} {version.guideline.title} v{version.number}.")
    return redirect("guidelines-version", slug=slug, number=number)


@admin_only
def guideline_readers(request: HttpRequest, slug: str) -> HttpResponse:
    guideline = get_object_or_404(Guideline, slug=slug)
    versions, rows = acknowledgement_table(guideline=guideline)
    return render(
        request,
        "guidelines/readers.html",
        {"guideline": guideline, "versions": versions, "rows": rows},
    )
