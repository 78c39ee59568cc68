"""Keeping the overview's figures ready: daily tallies refreshed from the rows that changed.

Events (a prompt written, a demonstration submitted, a ranking made) are counted per day
in DailyTally. A refresh recounts only the days from the day before the previous refresh
on, finding their rows by primary key from the first id those days held, so it costs what
arrived since, not what the tables hold. A settled day never changes again: `created_at`
is set on insert, and no transaction stays open for a day, so nothing can still arrive
with an older day.

Two figures are not plain events:
- A comparison's agreement changes whenever another ranking arrives. It is tallied by
  the comparison's creation day; the days of comparisons that got a ranking since are
  recounted too, each from its own id range.
- Agreement per guideline version counts pairs of rankings of one comparison under one
  version, as rankings.selectors.agreement_report does; each pair is counted on the day
  of its later ranking, so it only ever changes on recent days.

States (tasks open now, demonstrations by status) are counted afresh at each refresh.
The People pages' per-person days are kept in the same refresh (dashboard/people_rollup.py).
"""

import time as clock
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice

from django.db import transaction
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Sum,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from dashboard.days import day_of, day_start, first_id_on_or_after
from dashboard.models import PLATFORM, DailyTally, Rollup
from dashboard.people_rollup import people_refresh
from labeling.models import Assignment, Demonstration, Prompt, Review, Task
from rankings.agreement import pair_values
from rankings.models import RANKING, Comparison, Ranking
from rankings.priority_report import queue_priority_summary, recent_since

# Days before the previous refresh's own day that are recounted: rows of older days are
# settled (see the module docstring).
SETTLE = timedelta(days=1)
RATER_AGREEMENT = "rater_agreement"
COMPARISON_AGREEMENT = "comparison_agreement"
# Rankings whose rater pairs are counted per round trip to the database.
CHUNK = 2000


@dataclass(frozen=True)
class EventTally:
    """A kind of row counted per day of its `created_at`, optionally split by `key` (a
    field path) and with `value` summed for a mean (and then only non-null values count)."""

    metric: str
    events: Callable[[], QuerySet]
    key: str | None = None
    value: Callable[[], object] | None = None


def _decisive_approvals() -> QuerySet[Review]:
    """The approving review that made each demonstration approved: the last approval of
    the approved revision. An approval is final, so which review that is never changes."""
    later = Review.objects.filter(
        demonstration=OuterRef("demonstration"),
        revision=OuterRef("revision"),
        verdict=Review.Verdict.APPROVE,
        pk__gt=OuterRef("pk"),
    )
    return Review.objects.filter(
        verdict=Review.Verdict.APPROVE,
        demonstration__status=Demonstration.Status.APPROVED,
        revision=F("demonstration__revision"),
    ).exclude(Exists(later))


def comparison_agreement_value() -> Cast:
    """A comparison's stored pairwise agreement as a number (NULL until two raters)."""
    return Cast(KT("agreement__pairwise_agreement"), FloatField())


EVENT_TALLIES = [
    EventTally("prompts", Prompt.objects.all, key="source"),
    EventTally("demonstrations", Demonstration.objects.all, key="source"),
    EventTally("approvals", _decisive_approvals),
    EventTally("rankings", Ranking.objects.all, key="comparison__source"),
    EventTally(
        COMPARISON_AGREEMENT,
        lambda: Comparison.objects.filter(source=PLATFORM),
        value=comparison_agreement_value,
    ),
]


def first_id_since(metric: str, since: date | None) -> int:
    """The lowest id of a row of `metric` made on or after `since`, as far as the tallies
    know: a recount from `since` starts there, and so can any read of recent rows."""
    if since is None:
        return 0
    return first_id_on_or_after(DailyTally.objects.filter(metric=metric), since)


def _since(events: QuerySet, start_id: int, since: date | None) -> QuerySet:
    events = events.filter(pk__gte=start_id)
    return events if since is None else events.filter(created_at__gte=day_start(since))


def _tallies(tally: EventTally, events: QuerySet) -> Iterator[DailyTally]:
    day = TruncDate("created_at", tzinfo=timezone.get_default_timezone())
    fields = ["tally_day", tally.key] if tally.key else ["tally_day"]
    grouped = events.annotate(tally_day=day).values(*fields)
    figures: dict[str, object] = {"first": Min("pk"), "last": Max("pk")}
    if tally.value is None:
        figures["n"] = Count("pk")
    else:
        figures["n"] = Count(tally.value())
        figures["sum"] = Sum(tally.value())
    for row in grouped.annotate(**figures).order_by():
        yield DailyTally(
            metric=tally.metric,
            key=row[tally.key] if tally.key else "",
            day=row["tally_day"],
            count=row["n"],
            total=row.get("sum") or 0.0,
            first_id=row["first"],
            last_id=row["last"],
        )


def _replace(metric: str, since: date | None, tallies: Iterable[DailyTally]) -> None:
    stale = DailyTally.objects.filter(metric=metric)
    if since is not None:
        stale = stale.filter(day__gte=since)
    stale.delete()
    DailyTally.objects.bulk_create(tallies, batch_size=1000)


def _batched(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _comparisons_of(rankings: QuerySet[Ranking]) -> Iterator[list[int]]:
    """The ids of the comparisons `rankings` rank, CHUNK at a time."""
    ids = rankings.values_list("comparison_id", flat=True).distinct().order_by("comparison_id")
    return _batched(ids.iterator(chunk_size=CHUNK), CHUNK)


def rater_agreement_tallies(rankings: QuerySet[Ranking]) -> Iterator[DailyTally]:
    """For each ranking among `rankings`, its candidate pairs judged alike and judged at
    all with each earlier ranking of the same comparison under the same guideline version;
    per day of that ranking and version. Summed over all days, a version's total / count
    is agreement_report's pairwise agreement for it."""
    # (day, version) -> [pairs, alike, first id, last id]
    sums: dict[tuple[date, int], list[int]] = {}
    counted = rankings.filter(comparison__source=PLATFORM, comparison__ranking_count__gte=2)
    for chunk in _comparisons_of(counted):
        mine = set(counted.filter(comparison_id__in=chunk).values_list("pk", flat=True))
        # Every ranking of these comparisons, decoded once, in id order per rater group.
        groups: dict[tuple[int, int], list[tuple[int, dict, datetime]]] = defaultdict(list)
        for pk, comparison, version, ranking, created_at in (
            Ranking.objects.filter(comparison_id__in=chunk)
            .order_by("pk")
            .values_list("pk", "comparison_id", "guideline_version_id", "ranking", "created_at")
        ):
            groups[(comparison, version)].append((pk, pair_values(ranking), created_at))
        for (_, version), group in groups.items():
            for index, (pk, values, created_at) in enumerate(group):
                if pk not in mine:
                    continue
                pairs = alike = 0
                for _, theirs, _ in group[:index]:
                    for pair, value in values.items():
                        if pair in theirs:
                            pairs += 1
                            alike += theirs[pair] == value
                if not pairs:
                    continue
                key = (day_of(created_at), version)
                entry = sums.setdefault(key, [0, 0, pk, pk])
                entry[0] += pairs
                entry[1] += alike
                entry[2], entry[3] = min(entry[2], pk), max(entry[3], pk)
    for (day, version), (pairs, alike, first, last) in sums.items():
        yield DailyTally(
            metric=RATER_AGREEMENT,
            key=str(version),
            day=day,
            count=pairs,
            total=alike,
            first_id=first,
            last_id=last,
        )


def _comparison_days_before(rankings: QuerySet[Ranking], since: date) -> set[date]:
    """The days before `since` on which comparisons that `rankings` rank were made."""
    days: set[date] = set()
    day = TruncDate("created_at", tzinfo=timezone.get_default_timezone())
    for chunk in _comparisons_of(rankings.filter(comparison__source=PLATFORM)):
        days.update(
            Comparison.objects.filter(pk__in=chunk, created_at__lt=day_start(since))
            .annotate(day=day)
            .values_list("day", flat=True)
            .distinct()
            .order_by()
        )
    return days


def _recount_comparison_days(days: Iterable[date]) -> None:
    """Recount whole earlier days of comparison agreement, each from its id range."""
    tally = next(t for t in EVENT_TALLIES if t.metric == COMPARISON_AGREEMENT)
    for day in days:
        known = DailyTally.objects.filter(metric=COMPARISON_AGREEMENT, day=day, key="").first()
        events = tally.events().filter(
            created_at__gte=day_start(day), created_at__lt=day_start(day + timedelta(days=1))
        )
        if known is not None:
            events = events.filter(pk__gte=known.first_id, pk__lte=known.last_id)
        _replace_day(day, list(_tallies(tally, events)))


def _replace_day(day: date, tallies: list[DailyTally]) -> None:
    DailyTally.objects.filter(metric=COMPARISON_AGREEMENT, day=day).delete()
    DailyTally.objects.bulk_create(tallies)


def current_counts() -> dict[str, object]:
    """What is true right now: demonstrations by status, and per task kind how many tasks
    are open (waiting), leased (someone is on it) and finished."""
    demonstrations = dict(
        Demonstration.objects.values_list("status").annotate(n=Count("pk")).order_by()
    )
    tasks: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys([*Task.Status.values, "leased"], 0)
    )
    for kind, status, n in (
        Task.objects.values_list("kind", "status").annotate(n=Count("pk")).order_by()
    ):
        tasks[kind][status] = n
    # The closed task under an AI-made comparison (ai_feedback's critique_revise, kept out
    # of the queue) was never anyone's work: it is not counted as finished. Counted from
    # the few AI-made comparisons, not by joining them onto every task.
    ai_made = Comparison.objects.filter(ai_critique__isnull=False, task__status=Task.Status.CLOSED)
    if RANKING in tasks:
        tasks[RANKING][Task.Status.CLOSED] -= ai_made.count()
    live = Assignment.objects.filter(
        task=OuterRef("pk"), status=Assignment.Status.LEASED, expires_at__gt=timezone.now()
    )
    for kind, n in (
        Task.objects.filter(Exists(live), status=Task.Status.OPEN)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        tasks[kind]["leased"] = n
    since = recent_since()
    recent = Ranking.objects.filter(
        pk__gte=first_id_since("rankings", day_of(since)), created_at__gte=since
    )
    return {
        "demonstrations": demonstrations,
        "tasks": dict(tasks),
        "ranking_queue": queue_priority_summary(recent),
    }


def rollup_refresh(*, full: bool = False) -> Rollup:
    """Bring the tallies up to date: from scratch when `full` or never done, else by
    recounting the days since the day before the previous refresh."""
    started = clock.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        # The lock makes a second refresh (beat and a click at once) wait its turn.
        rollup, _ = Rollup.objects.select_for_update().get_or_create(pk=1)
        since = None
        if not full and rollup.refreshed_at is not None:
            since = day_of(rollup.refreshed_at) - SETTLE
        rankings = _since(Ranking.objects.all(), first_id_since("rankings", since), since)
        touched_days = set() if since is None else _comparison_days_before(rankings, since)
        # Tallied before the rankings' own tallies are replaced: their first ids bound it.
        pairs = list(rater_agreement_tallies(rankings))
        for tally in EVENT_TALLIES:
            events = _since(tally.events(), first_id_since(tally.metric, since), since)
            _replace(tally.metric, since, list(_tallies(tally, events)))
        _replace(RATER_AGREEMENT, since, pairs)
        _recount_comparison_days(touched_days)
        people_refresh(since=since if rollup.people_counted else None)
        rollup.people_counted = True
        rollup.current = current_counts()
        rollup.refreshed_at = now
        rollup.took_ms = (clock.perf_counter() - started) * 1000
        rollup.save(update_fields=["current", "refreshed_at", "took_ms", "people_counted"])
    return rollup
