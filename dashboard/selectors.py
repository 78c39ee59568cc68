"""Reads for the dashboard: the overview from the rollup's tallies, the people from their
work in a window. Each is a fixed number of queries, however many days or people."""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db.models import Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from accounts.roles import ALL_ROLES, Role, user_roles
from dashboard.models import DailyTally, Rollup
from dashboard.rollup import (
    COMPARISON_AGREEMENT,
    PLATFORM,
    RATER_AGREEMENT,
    first_id_since,
)
from dashboard.rollup import today as site_today
from guidelines.models import GuidelineVersion
from labeling.models import Demonstration, LabelerProfile, Prompt, Review, Task
from labeling.pay import pay_per_hour
from labeling.task_kinds import task_kind_choices
from rankings.agreement import RatedRanking, gold_accuracy, pair_values
from rankings.models import Comparison, Ranking

# Accounts that imported labels are attributed to (dataset_io.importing.source_user): they
# stand for a dataset, not a person.
SOURCE_USER_PREFIX = "source:"
DAILY = ("demonstrations", "approvals", "rankings")
WORK_KINDS = ("demonstrations", "reviews", "rankings")


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


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


@dataclass
class Person:
    """One labeler's or reviewer's work in the window."""

    user: AbstractBaseUser
    window_days: int | None
    roles: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WORK_KINDS, 0))
    per_day: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    approved: int = 0
    consensus_pairs: int = 0
    consensus_alike: int = 0
    gold: tuple[float, int] | None = None
    opt_outs: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(self.counts.values())

    @property
    def days(self) -> int:
        """The window's length, or for all time the days since their first item."""
        if self.window_days is not None:
            return self.window_days
        if not self.per_day:
            return 1
        return (site_today() - min(self.per_day)).days + 1

    @property
    def per_day_mean(self) -> float:
        return self.items / self.days

    @property
    def median_seconds(self) -> float | None:
        """The median time on task over all their items that report one."""
        every = [s for values in self.seconds.values() for s in values]
        return statistics.median(every) if every else None

    def median_seconds_of(self, kind: str) -> float | None:
        values = self.seconds.get(kind)
        return statistics.median(values) if values else None

    @property
    def consensus_agreement(self) -> float | None:
        return _share(self.consensus_alike, self.consensus_pairs)

    @property
    def pay_per_hour(self) -> float | None:
        """As their own page computes it (labeling.pay), over the window."""
        earning = {**self.counts, "demonstrations": self.approved}
        seconds = {kind: sum(values) for kind, values in self.seconds.items()}
        return pay_per_hour(earning=earning, seconds=seconds)


def window_start(days: int | None) -> datetime | None:
    if days is None:
        return None
    start = site_today() - timedelta(days=days - 1)
    return datetime.combine(start, datetime.min.time(), tzinfo=timezone.get_default_timezone())


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


def people_figures(*, days: int | None = 30, user_id: int | None = None) -> list[Person]:
    """Every labeler and reviewer (and anyone else who worked here in the window), or just
    `user_id`, with their work of the last `days` days (None: all time)."""
    since = window_start(days)
    demonstrations = Demonstration.objects.filter(source=PLATFORM)
    reviews = Review.objects.all()
    rankings = Ranking.objects.filter(comparison__source=PLATFORM)
    if since is not None:
        # The tallies know where the window's ids start: the primary key's index then
        # finds its rows, where `created_at` alone (not indexed) would read every row.
        first_day = since.date()
        demonstrations = demonstrations.filter(
            pk__gte=first_id_since("demonstrations", first_day), created_at__gte=since
        )
        reviews = reviews.filter(created_at__gte=since)
        rankings = rankings.filter(
            pk__gte=first_id_since("rankings", first_day), created_at__gte=since
        )
    if user_id is not None:
        demonstrations = demonstrations.filter(author_id=user_id)
        reviews = reviews.filter(reviewer_id=user_id)
        rankings = rankings.filter(rater_id=user_id)

    work: dict[int, Person] = {}

    def person(pk: int) -> Person:
        if pk not in work:
            work[pk] = Person(user=None, window_days=days)  # type: ignore[arg-type]
        return work[pk]

    def count(one: Person, kind: str, seconds: int, day: date) -> None:
        one.counts[kind] += 1
        one.per_day[day] += 1
        if seconds:  # 0: the client did not say
            one.seconds[kind].append(seconds)

    day = TruncDate("created_at", tzinfo=timezone.get_default_timezone())
    for author, status, seconds, on in demonstrations.annotate(day=day).values_list(
        "author_id", "status", "time_spent_s", "day"
    ):
        one = person(author)
        count(one, "demonstrations", seconds, on)
        one.approved += status == Demonstration.Status.APPROVED
    for reviewer, seconds, on in reviews.annotate(day=day).values_list(
        "reviewer_id", "time_spent_s", "day"
    ):
        count(person(reviewer), "reviews", seconds, on)

    # Each comparison's merged order and gold order, decoded once rather than per rater.
    # Alone on a comparison, a rater is the consensus: that says nothing, so it is left out.
    ranked = Comparison.objects.filter(pk__in=rankings.values("comparison_id"))
    consensus = {
        pk: pair_values(merged)
        for pk, merged in ranked.filter(ranking_count__gte=2).values_list(
            "pk", "consensus_ranked_pairs"
        )
        if merged
    }
    gold = dict(ranked.exclude(gold_ranking=[]).values_list("pk", "gold_ranking"))
    on_gold: list[RatedRanking] = []
    for rater, comparison, ranking, seconds, on in rankings.annotate(day=day).values_list(
        "rater_id", "comparison_id", "ranking", "time_spent_s", "day"
    ):
        one = person(rater)
        count(one, "rankings", seconds, on)
        merged = consensus.get(comparison)
        if merged is not None:
            for pair, value in pair_values(ranking).items():
                if pair in merged:
                    one.consensus_pairs += 1
                    one.consensus_alike += merged[pair] == value
        if comparison in gold:
            on_gold.append(RatedRanking(comparison, rater, ranking))
    for rater, accuracy in gold_accuracy(on_gold, gold).items():
        person(rater).gold = accuracy

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
