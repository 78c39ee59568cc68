"""Dashboard pages about the data and the people. Each view is short: it asks a selector
for the numbers and renders."""

from datetime import date, timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from accounts.permissions import role_required
from accounts.roles import Role
from dashboard.api import schedule_apply
from dashboard.charts import Chart, Series, bar_chart, line_chart
from dashboard.days import today as site_today
from dashboard.rollup import rollup_refresh
from dashboard.schedules import (
    PERIODS,
    schedule_cadence,
    schedule_is_system,
    schedule_kind,
    schedule_list,
)
from dashboard.selectors import (
    overview_figures,
    people_figures,
    person_recent_work,
    rollup_state,
)
from labeling.pay import pay_rates

admins = role_required(Role.ADMIN)

# The People page's windows: (query value, label, days). The page reads per-person days
# (dashboard/people_rollup.py), so a year costs about what a week does.
WINDOWS = [
    ("7", "7 days", 7),
    ("30", "30 days", 30),
    ("90", "90 days", 90),
    ("365", "A year", 365),
]
WINDOW_DAYS = {value: days for value, _, days in WINDOWS}
DEFAULT_WINDOW = "30"
REFRESH_TASK = "dashboard.tasks.rollup_refresh"


def _day(value: date) -> str:
    return f"{value:%b} {value.day}"


def _overview_charts(figures: dict) -> list:
    days = [_day(d) for d in figures["days"]]
    per_day = figures["per_day"]
    return [
        line_chart(
            Chart(
                key="demonstrations-per-day",
                title=f"Demonstrations per day, last {len(days)} days",
                description="Demonstrations written here that were submitted, and that were "
                "approved, each day.",
                x_label="Day",
                y_label="Demonstrations",
                labels=days,
            ),
            [
                Series("Submitted", per_day["demonstrations"]),
                Series("Approved", per_day["approvals"]),
            ],
        ),
        bar_chart(
            Chart(
                key="rankings-per-day",
                title=f"Rankings per day, last {len(days)} days",
                description="Rankings made here each day (imported rankings are not counted).",
                x_label="Day",
                y_label="Rankings",
                labels=days,
            ),
            per_day["rankings"],
        ),
        line_chart(
            Chart(
                key="agreement-per-week",
                title=f"Agreement over time, last {len(figures['weeks'])} weeks",
                description="Mean pairwise agreement of the comparisons created each week "
                "(each comparison's agreement between its raters); gaps are weeks without a "
                "comparison ranked twice.",
                x_label="Week starting",
                y_label="Mean agreement",
                labels=[_day(w) for w in figures["weeks"]],
                percent=True,
            ),
            [Series("Mean agreement", figures["agreement_per_week"])],
        ),
        bar_chart(
            Chart(
                key="agreement-by-version",
                title="Agreement per guideline version",
                description="Pairwise agreement between raters who ranked the same comparison "
                "under the same guideline version, as on the agreement page.",
                x_label="Guideline version",
                y_label="Agreement",
                labels=[row["label"] for row in figures["agreement_by_version"]],
                percent=True,
            ),
            [row["agreement"] for row in figures["agreement_by_version"]],
        ),
    ]


def _freshness() -> dict[str, object]:
    """When the figures were counted and how often beat recounts them; counted now when
    they never were."""
    refreshed_at, people_counted = rollup_state()
    if refreshed_at is None:
        rollup = rollup_refresh()
        refreshed_at, people_counted = rollup.refreshed_at, rollup.people_counted
    schedule = schedule_list().filter(task=REFRESH_TASK).first()
    return {
        "refreshed_at": refreshed_at,
        # False after an upgrade until the next refresh has counted them from scratch.
        "people_counted": people_counted,
        "refresh_schedule": schedule,
        "refresh_cadence": schedule_cadence(schedule) if schedule else None,
    }


@admins
def overview(request: HttpRequest) -> HttpResponse:
    freshness = _freshness()
    figures = overview_figures()
    return render(
        request,
        "dashboard/overview.html",
        {
            "section": "overview",
            "figures": figures,
            "charts": _overview_charts(figures),
            **freshness,
        },
    )


@require_POST
@admins
def overview_refresh(request: HttpRequest) -> HttpResponse:
    rollup = rollup_refresh()
    messages.success(request, f"Figures refreshed in {rollup.took_ms:,.0f} ms.")
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("dashboard-overview")


def _window(request: HttpRequest) -> tuple[str, int]:
    """The window asked for in ?days=, or the default for anything else."""
    chosen = request.GET.get("days", DEFAULT_WINDOW)
    if chosen not in WINDOW_DAYS:
        chosen = DEFAULT_WINDOW
    return chosen, WINDOW_DAYS[chosen]


@admins
def people(request: HttpRequest) -> HttpResponse:
    window, days = _window(request)
    freshness = _freshness()
    return render(
        request,
        "dashboard/people.html",
        {
            "section": "people",
            "people": people_figures(days=days),
            **freshness,
            "pay_rates": pay_rates(),
            "windows": WINDOWS,
            "window": window,
        },
    )


@admins
def person(request: HttpRequest, user_id: int) -> HttpResponse:
    window, days = _window(request)
    freshness = _freshness()
    found = people_figures(days=days, user_id=user_id)
    if not found:
        raise Http404("No labeler or reviewer with that id.")
    one = found[0]
    first = site_today() - timedelta(days=days - 1)
    dates = [first + timedelta(days=n) for n in range(days)]
    chart = bar_chart(
        Chart(
            key="person-per-day",
            title=f"{one.user.get_username()}: items per day",
            description="Demonstrations, reviews and rankings they submitted each day.",
            x_label="Day",
            y_label="Items",
            labels=[_day(d) for d in dates],
        ),
        [one.per_day.get(d, 0) for d in dates],
    )
    return render(
        request,
        "dashboard/person.html",
        {
            "section": "people",
            "person": one,
            "medians": [(kind, one.median_seconds_of(kind)) for kind in one.counts],
            "chart": chart,
            "recent": person_recent_work(user=one.user),
            "windows": WINDOWS,
            "window": window,
            **freshness,
        },
    )


def _schedules_page(
    request: HttpRequest, *, errors: dict[int, dict[str, str]] | None = None, status: int = 200
) -> HttpResponse:
    rows = [
        {
            "schedule": schedule,
            "kind": schedule_kind(schedule),
            "system": schedule_is_system(schedule),
            "cadence": schedule_cadence(schedule),
            "errors": (errors or {}).get(schedule.pk, {}),
            "form": request.POST if errors and schedule.pk in errors else None,
        }
        for schedule in schedule_list()
    ]
    return render(
        request,
        "dashboard/schedules.html",
        {"section": "schedules", "rows": rows, "periods": PERIODS},
        status=status,
    )


@admins
def schedules(request: HttpRequest) -> HttpResponse:
    return _schedules_page(request)


@require_POST
@admins
def schedule_edit(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = get_object_or_404(schedule_list(), pk=schedule_id)
    data: dict[str, object] = {}
    # A system entry shows no box to untick: the form says nothing about whether it runs.
    if not schedule_is_system(schedule):
        data["enabled"] = request.POST.get("enabled") == "on"
    for name in ("every", "period"):
        if name in request.POST:
            data[name] = request.POST[name].strip()
    try:
        schedule_apply(schedule, data)
    except ValidationError as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {"form": exc.detail}
        errors = {
            ("form" if field == "non_field_errors" else field): " ".join(map(str, messages_))
            for field, messages_ in detail.items()
        }
        return _schedules_page(request, errors={schedule.pk: errors}, status=400)
    messages.success(request, f"Saved: {schedule.name}.")
    return redirect(reverse("dashboard-schedules") + f"#schedule-{schedule.pk}")
