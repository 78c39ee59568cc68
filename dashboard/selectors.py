"""Reads for the dashboard: the overview from the rollup's tallies, the people from their
work in a window. Each is a fixed number of queries, however many days or people."""

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import connection
from django.db.models import Max, Min, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek

from accounts.roles import ALL_ROLES, Role, user_roles
from dashboard.days import today as site_today
from dashboard.models import PLATFORM, WORK_KINDS, DailyTally, PersonDay, Rollup
from dashboard.rollup import COMPARISON_AGREEMENT, RATER_AGREEMENT
from guidelines.models import GuidelineVersion
from labeling.models import Demonstration, LabelerProfile, Prompt, Review, Task
from labeling.pay import pay_per_hour
from labeling.task_kinds import task_kind_choices
from rankings.models import Ranking

# Accounts that imported labels are attributed to (dataset_io.importing.source_user): they
# stand for a dataset, not a person.
SOURCE_USER_PREFIX = "source:"
DAILY = ("demonstrations", "approvals", "rankings")


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def rollup_state() -> tuple[datetime | None, bool]:
    """When the rollup last counted the figures (None before its first count), and
    whether it has counted the per-person days yet."""
    state = Rollup.objects.filter(pk=1).values_list("refreshed_at", "people_counted").first()
    return state or (None, False)


def overview_figures(*, days: int = 30, weeks: int = 26) -> dict[str, object]:
    """Totals, states, the last `days` days of work done here, and agreement: mean
    comparison agreement per week for the last `weeks` weeks, and per guideline version."""
    rollup = Rollup.objects.filter(pk=1).first()
    totals: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)
    for metric, key, count, total in (
        DailyTally.objects.exclude(metric=COMPARISON_AGREEMENT)
        .values_list("metric", "key")
        .annotate(count=Sum("count"), total=Sum("total"))
        .order_by()
    ):
        totals[metric][key] = (count, total)

    today = site_today()
    day_list = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    per_day = {metric: dict.fromkeys(day_list, 0) for metric in DAILY}
    for metric, key, day, count in DailyTally.objects.filter(
        metric__in=DAILY, day__gte=day_list[0]
    ).values_list("metric", "key", "day", "count"):
        # Work done here: imported demonstrations and rankings arrived, nobody did them today.
        # A day after `today` is one that began while this ran (a tally made just past
        # midnight): it belongs to tomorrow's chart.
        if (metric == "approvals" or key == PLATFORM) and day in per_day[metric]:
            per_day[metric][day] += count

    this_week = today - timedelta(days=today.weekday())
    week_list = [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    weekly: dict[date, float | None] = dict.fromkeys(week_list)
    compared: dict[date, int] = dict.fromkeys(week_list, 0)
    for row in (
        DailyTally.objects.filter(metric=COMPARISON_AGREEMENT, day__gte=week_list[0])
        .annotate(week=TruncWeek("day"))
        .values("week")
        .annotate(count=Sum("count"), total=Sum("total"))
        .order_by()
    ):
        week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        weekly[week] = _share(row["total"], row["count"])
        compared[week] = row["count"]

    versions = {
        str(v.pk): v
        for v in GuidelineVersion.objects.filter(
            pk__in=[int(k) for k in totals[RATER_AGREEMENT]]
        ).select_related("guideline")
    }
    by_version = sorted(
        (
            {
                "label": f"{versions[key].guideline.slug} v{versions[key].number}",
                "agreement": _share(alike, pairs),
                "pairs": pairs,
            }
            for key, (pairs, alike) in totals[RATER_AGREEMENT].items()
            if key in versions
        ),
        key=lambda row: row["label"],
    )

    current = rollup.current if rollup else {}
    sources = dict(Prompt.Source.choices)
    prompts = totals["prompts"]
    rankings = totals["rankings"]
    kinds = dict(task_kind_choices())
    tasks = []
    for kind, states in sorted(current.get("tasks", {}).items()):
        leased = states.get("leased", 0)
        tasks.append(
            {
                "kind": kinds.get(kind, kind),
                "open": states.get(Task.Status.OPEN, 0) - leased,
                "leased": leased,
                "finished": states.get(Task.Status.DONE, 0) + states.get(Task.Status.CLOSED, 0),
            }
        )
    statuses = current.get("demonstrations", {})
    return {
        "refreshed_at": rollup.refreshed_at if rollup else None,
        "took_ms": rollup.took_ms if rollup else None,
        "prompts": sum(count for count, _ in prompts.values()),
        "prompts_by_source": [
            (sources.get(key, key), count) for key, (count, _) in sorted(prompts.items())
        ],
        "demonstrations_by_status": [
            (label, statuses.get(value, 0)) for value, label in Demonstration.Status.choices
        ],
        "demonstrations": sum(statuses.values()),
        "rankings": sum(count for count, _ in rankings.values()),
        "rankings_here": rankings.get(PLATFORM, (0, 0))[0],
        "tasks": tasks,
        "ranking_queue": current.get("ranking_queue", {}),
        "days": day_list,
        "per_day": {metric: list(values.values()) for metric, values in per_day.items()},
        "weeks": week_list,
        "agreement_per_week": list(weekly.values()),
        "comparisons_per_week": list(compared.values()),
        "agreement_by_version": by_version,
    }


def histogram_median(counts: Mapping[int, int]) -> float | None:
    """The median of the values counted in {value: how many}, as statistics.median gives
    it for the list they stand for."""
    items = sum(counts.values())
    if not items:
        return None
    lower, upper = (items - 1) // 2, items // 2  # 0-based ranks of the middle item(s)
    seen, low = 0, None
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > lower:
            low = value
        if seen > upper:
            return (low + value) / 2
    raise AssertionError("unreachable: the ranks are below the total")


@dataclass
class Person:
    """One labeler's or reviewer's work in the window."""

    user: AbstractBaseUser
    window_days: int | None
    roles: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WORK_KINDS, 0))
    # Per kind, their times on task in the window as {seconds: items}.
    seconds: dict[str, dict[int, int]] = field(default_factory=dict)
    first_day: date | None = None
    per_day: dict[date, int] = field(default_factory=dict)  # filled for one person's page
    approved: int = 0
    consensus_pairs: int = 0
    consensus_alike: int = 0
    gold_pairs: int = 0
    gold_right: int = 0
    opt_outs: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(self.counts.values())

    @property
    def days(self) -> int:
        """The window's length, or for all time the days since their first item."""
        if self.window_days is not None:
            return self.window_days
        if self.first_day is None:
            return 1
        return (site_today() - self.first_day).days + 1

    @property
    def per_day_mean(self) -> float:
        return self.items / self.days

    @property
    def median_seconds(self) -> float | None:
        """The median time on task over all their items that report one."""
        every: dict[int, int] = defaultdict(int)
        for counts in self.seconds.values():
            for value, items in counts.items():
                every[value] += items
        return histogram_median(every)

    def median_seconds_of(self, kind: str) -> float | None:
        return histogram_median(self.seconds.get(kind, {}))

    @property
    def consensus_agreement(self) -> float | None:
        return _share(self.consensus_alike, self.consensus_pairs)

    @property
    def gold(self) -> tuple[float, int] | None:
        """The share of their pairs on gold comparisons in the known order, and how many."""
        return (self.gold_right / self.gold_pairs, self.gold_pairs) if self.gold_pairs else None

    @property
    def pay_per_hour(self) -> float | None:
        """As their own page computes it (labeling.pay), over the window."""
        earning = {**self.counts, "demonstrations": self.approved}
        seconds = {
            kind: sum(value * items for value, items in counts.items())
            for kind, counts in self.seconds.items()
        }
        return pay_per_hour(earning=earning, seconds=seconds)


def window_start(days: int | None) -> date | None:
    return None if days is None else site_today() - timedelta(days=days - 1)


def _people_queryset(worker_ids: set[int]) -> QuerySet:
    roles = Q(is_active=True) & (
        Q(groups__name__in=[Role.LABELER, Role.REVIEWER]) | Q(is_superuser=True)
    )
    return (
        get_user_model()
        .objects.filter(roles | Q(pk__in=worker_ids))
        .exclude(username__startswith=SOURCE_USER_PREFIX)
        .distinct()
        .order_by("username")
        .prefetch_related(Prefetch("groups", queryset=Group.objects.filter(name__in=ALL_ROLES)))
    )


SUMMED = ("count", "approved", "consensus_pairs", "consensus_alike", "gold_pairs", "gold_right")


def _running_counts(keys: list[tuple[int, str, date]]) -> dict[tuple[int, str, date], dict]:
    """PersonDay.seconds_through of the rows at these (person, kind, day) keys, in one
    query however many: a list of row values, which the ORM cannot say."""
    if not keys:
        return {}
    table = PersonDay._meta.db_table
    wanted = ", ".join(["(%s, %s, %s)"] * len(keys))
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, kind, day, seconds_through FROM {table} "
            f"WHERE (user_id, kind, day) IN (VALUES {wanted})",
            [part for key in keys for part in key],
        )
        for user, kind, day, through in cursor.fetchall():
            # SQLite hands back the JSON's text and the day's, PostgreSQL their values.
            day = date.fromisoformat(day) if isinstance(day, str) else day
            found[(user, kind, day)] = json.loads(through) if isinstance(through, str) else through
    return found


def _window_seconds(rows: QuerySet, ends: dict, start: date | None) -> dict[tuple, dict]:
    """Per (person, kind), their times on task in the window as {seconds: items}: the
    running counts of their newest day in it less those of their last day before it."""
    befores: dict[tuple[int, str], date] = {}
    if start is not None and ends:
        befores = {
            (user, kind): last
            for user, kind, last in rows.filter(day__lt=start, user_id__in={u for u, _ in ends})
            .values("user_id", "kind")
            .annotate(last=Max("day"))
            .values_list("user_id", "kind", "last")
        }
    through = _running_counts(
        [(*key, day) for key, day in ends.items()] + [(*key, day) for key, day in befores.items()]
    )
    window = {}
    for key, day in ends.items():
        counts = {int(value): items for value, items in through[(*key, day)].items()}
        if key in befores:
            for value, items in through[(*key, befores[key])].items():
                counts[int(value)] -= items
        window[key] = {value: items for value, items in counts.items() if items}
    return window


def people_figures(*, days: int | None = 30, user_id: int | None = None) -> list[Person]:
    """Every labeler and reviewer (and anyone else who worked here in the window), or just
    `user_id`, with their work of the last `days` days (None: all time), as of the last
    refresh of the per-person days (dashboard/people_rollup.py).

    A fixed number of queries, however many people and days."""
    start = window_start(days)
    # A day after today is one that began while the refresh ran: it is tomorrow's.
    rows = PersonDay.objects.filter(day__lte=site_today())
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    window = rows if start is None else rows.filter(day__gte=start)
    work: dict[int, Person] = {}
    ends: dict[tuple[int, str], date] = {}
    for row in (
        window.values("user_id", "kind")
        .annotate(**{name: Sum(name) for name in SUMMED}, first=Min("day"), last=Max("day"))
        .order_by()
    ):
        one = work.setdefault(row["user_id"], Person(user=None, window_days=days))  # type: ignore[arg-type]
        one.counts[row["kind"]] = row["count"]
        one.approved += row["approved"]
        one.consensus_pairs += row["consensus_pairs"]
        one.consensus_alike += row["consensus_alike"]
        one.gold_pairs += row["gold_pairs"]
        one.gold_right += row["gold_right"]
        one.first_day = min(filter(None, (one.first_day, row["first"])))
        ends[(row["user_id"], row["kind"])] = row["last"]
    for (user, kind), counts in _window_seconds(rows, ends, start).items():
        work[user].seconds[kind] = counts
    if user_id is not None and user_id in work:
        work[user_id].per_day = dict(
            window.values("day").annotate(items=Sum("count")).values_list("day", "items")
        )

    users = _people_queryset(set(work))
    if user_id is not None:
        users = users.filter(pk=user_id)
    people = []
    for user in users:
        one = work.get(user.pk) or Person(user=user, window_days=days)
        one.user = user
        one.roles = user_roles(user)
        people.append(one)
    by_pk = {one.user.pk: one for one in people}
    sensitivities = dict(Prompt.Sensitivity.choices)
    for pk, opt_outs in LabelerProfile.objects.filter(user_id__in=by_pk).values_list(
        "user_id", "sensitive_opt_outs"
    ):
        by_pk[pk].opt_outs = [sensitivities.get(c, c) for c in opt_outs]
    return people


def person_recent_work(*, user: AbstractBaseUser, limit: int = 20) -> dict[str, list]:
    """Their latest demonstrations, reviews and rankings, newest first, for the links."""
    return {
        "demonstrations": list(
            Demonstration.objects.filter(author=user, source=PLATFORM)
            .select_related("prompt")
            .order_by("-pk")[:limit]
        ),
        "reviews": list(
            Review.objects.filter(reviewer=user)
            .select_related("demonstration__prompt")
            .order_by("-pk")[:limit]
        ),
        "rankings": list(
            Ranking.objects.filter(rater=user, comparison__source=PLATFORM)
            .select_related("comparison__prompt")
            .order_by("-pk")[:limit]
        ),
    }
