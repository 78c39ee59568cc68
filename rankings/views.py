"""Ranking pages for reviewers (pairwise and K-wise) and consensus pages for admins."""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render

from accounts.permissions import role_required
from accounts.roles import Role
from config.errors import InputError
from guidelines.selectors import version_last_acknowledged
from labeling.queue import QueueError, assignment_held
from labeling.validation import seconds_checked
from rankings.models import RANKING, Comparison, Ranking
from rankings.selectors import agreement_report, comparison_candidates_shown, comparison_list
from rankings.services import ranking_submit

raters = role_required(Role.REVIEWER, Role.ADMIN)
admins = role_required(Role.ADMIN)

# The pairwise scale, A (shown first) to B: (form value, label, winner side, strength).
PAIRWISE_SCALE = [
    ("a3", "A is much better", "a", 3),
    ("a2", "A is better", "a", 2),
    ("a1", "A is slightly better", "a", 1),
    ("tie", "About the same", None, 0),
    ("b1", "B is slightly better", "b", 1),
    ("b2", "B is better", "b", 2),
    ("b3", "B is much better", "b", 3),
]


def _form_ranking(post: QueryDict, shown: list[int]) -> tuple[list[list[int]], int | None]:
    """The ranking (and pairwise strength) a ranking form describes."""
    if len(shown) == 2:
        choice = next((row for row in PAIRWISE_SCALE if row[0] == post.get("preference")), None)
        if choice is None:
            raise InputError("preference", "Choose a point on the scale from A to B.")
        _, _, side, strength = choice
        if side is None:
            return [sorted(shown)], 0
        a, b = shown
        return ([[a], [b]] if side == "a" else [[b], [a]]), strength
    ranks: dict[int, list[int]] = {}
    for candidate in shown:
        raw = post.get(f"rank_{candidate}", "")
        if not _whole(raw) or not 1 <= int(raw) <= len(shown):
            raise InputError("ranking", "Give every reply a rank (equal ranks are ties).")
        ranks.setdefault(int(raw), []).append(candidate)
    return [ranks[r] for r in sorted(ranks)], None


def _whole(raw: str) -> bool:
    """Only 0-9: str.isdigit() also holds for "²", which int() refuses."""
    return raw.isascii() and raw.isdigit()


def _form_extras(post: QueryDict, shown: list[int]) -> dict[str, object]:
    flags = {str(c): post.getlist(f"flag_{c}") for c in shown if post.getlist(f"flag_{c}")}
    likert = {}
    for c in shown:
        raw = post.get(f"likert_{c}", "")
        if raw:
            if not _whole(raw):
                raise InputError("likert", "Scores are whole numbers from 1 to 7.")
            likert[str(c)] = int(raw)
    return {
        "flags": flags,
        "likert": likert,
        "all_bad": post.get("all_bad") == "on",
        "rationale": post.get("rationale", "")[:10_000],
        "time_spent_s": seconds_checked(post.get("time_spent_s", 0)),
    }


@raters
def ranking_task_page(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        assignment = assignment_held(user=request.user, task_id=task_id)
    except QueueError as exc:
        messages.error(request, str(exc))
        return redirect("home")
    comparison = get_object_or_404(
        Comparison.objects.select_related("prompt", "task__guideline"), task_id=task_id
    )
    candidates = comparison_candidates_shown(comparison=comparison, rater_id=request.user.pk)
    shown = [c["id"] for c in candidates]
    error = ""
    if request.method == "POST":
        try:
            groups, strength = _form_ranking(request.POST, shown)
            ranking_submit(
                rater=request.user,
                comparison_id=comparison.pk,
                ranking=groups,
                strength=strength,
                idempotency_key=request.POST.get("idempotency_key", ""),
                **_form_extras(request.POST, shown),
            )
        except (InputError, QueueError) as exc:
            error = str(exc)
        else:
            messages.success(request, "Ranking saved. Here is the next one.")
            return redirect("labeling-next", kind=RANKING)
    labels = "ABCDEFGHI"
    for index, candidate in enumerate(candidates):
        candidate["label"] = labels[index]
        candidate["rank"] = request.POST.get(f"rank_{candidate['id']}", "")
    return render(
        request,
        "rankings/task.html",
        {
            "task": comparison.task,
            "comparison": comparison,
            "prompt": comparison.prompt,
            "assignment": assignment,
            "candidates": candidates,
            "ranks": range(1, len(candidates) + 1),
            "pairwise": len(candidates) == 2,
            "scale": PAIRWISE_SCALE,
            "flags": Ranking.Flag.choices,
            "likert": range(1, 8),
            "version": version_last_acknowledged(
                user=request.user, guideline=comparison.task.guideline
            ),
            "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
            # The clock resumes from what the page kept with the lease.
            "time_spent_s": request.POST.get("time_spent_s", assignment.time_spent_s),
            "error": error,
            # A sensitive prompt asked for without the page's script (?shown=1).
            "shown": request.GET.get("shown") == "1",
        },
        status=400 if error else 200,
    )


@admins
def comparison_detail(request: HttpRequest, comparison_id: int) -> HttpResponse:
    comparison = get_object_or_404(
        Comparison.objects.select_related("prompt", "task"), pk=comparison_id
    )
    candidates = {c.pk: c for c in comparison.candidates.all()}
    rankings = comparison.rankings.select_related("rater", "guideline_version")
    return render(
        request,
        "rankings/comparison.html",
        {
            "comparison": comparison,
            "candidates": candidates,
            "ranked_pairs": [
                [candidates[c] for c in group] for group in comparison.consensus_ranked_pairs
            ],
            "bradley_terry": sorted(
                (
                    (candidates[int(c)], score)
                    for c, score in comparison.consensus_bradley_terry.items()
                ),
                key=lambda item: -item[1],
            ),
            "rankings": [
                {"ranking": r, "groups": [[candidates[c] for c in group] for group in r.ranking]}
                for r in rankings
            ],
        },
    )


@admins
def comparison_index(request: HttpRequest) -> HttpResponse:
    return render(request, "rankings/index.html", {"comparisons": comparison_list()[:200]})


@admins
def agreement_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "rankings/agreement.html",
        {"report": agreement_report(guideline_slug=request.GET.get("guideline"))},
    )
