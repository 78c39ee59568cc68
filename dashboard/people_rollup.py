"""Keeping the People pages' figures ready: one PersonDay per person, kind of work and day,
refreshed by dashboard.rollup.rollup_refresh under its lock, as the tallies are.

A refresh recounts the days from `since` on (the tallies' rule: older rows are settled),
and the older days whose figures changed after all:
- its author's day of a demonstration approved or revised since (the approval counts, and
  a revision adds its time on task);
- its rater's day of a ranking whose comparison another ranking reached since: the
  comparison's consensus moved.
Those are recounted for that person only: a comparison's rankings are often days apart,
and recounting every rater's day for each of them cost seconds a refresh.
Reviews never change, and a comparison's gold order is set when it is made.

When a day's times on task change, that person's running value counts
(PersonDay.seconds_through) are rebuilt from that day on: for the days just counted that
is a row or two; for a revised old demonstration, its author's later days.
"""

from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from itertools import islice

from django.db.models import Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from dashboard.days import day_of, day_start, first_id_on_or_after, today
from dashboard.models import PLATFORM, WORK_KINDS, PersonDay
from labeling.models import Demonstration, Review
from rankings.agreement import pair_values
from rankings.models import Comparison, Ranking

PERSON = {"demonstrations": "author_id", "reviews": "reviewer_id", "rankings": "rater_id"}
# Rows read per round trip, and people or (person, day) pairs per query where each is a
# term of an OR (SQLite parses a long OR as a deep tree and refuses one past 1,000 terms).
CHUNK = 2000
KEYS_PER_QUERY = 200
# A full recount goes through the history this many days at a time, so it holds one
# block's value counts in memory, not a year's.
BLOCK = timedelta(days=31)

Counts = dict[tuple[int, date], PersonDay]


def _events(kind: str) -> QuerySet:
    """The rows of `kind` that are someone's work here: imports are nobody's."""
    if kind == "demonstrations":
        return Demonstration.objects.filter(source=PLATFORM)
    if kind == "reviews":
        return Review.objects.all()
    return Ranking.objects.filter(comparison__source=PLATFORM)


def _batched(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _counted(counts: Counts, kind: str, user: int, day: date, pk: int, seconds: int) -> PersonDay:
    row = counts.get((user, day))
    if row is None:
        row = PersonDay(user_id=user, kind=kind, day=day, seconds={}, first_id=pk, last_id=pk)
        counts[(user, day)] = row
    row.count += 1
    row.first_id, row.last_id = min(row.first_id, pk), max(row.last_id, pk)
    if seconds:  # 0: the client did not say
        key = str(seconds)  # as JSON will keep it
        row.seconds[key] = row.seconds.get(key, 0) + 1
    return row


def _with_day(rows: QuerySet) -> QuerySet:
    return rows.annotate(on=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))


def _count_demonstrations(rows: QuerySet, counts: Counts) -> None:
    for author, pk, on, seconds, status in (
        _with_day(rows)
        .values_list("author_id", "pk", "on", "time_spent_s", "status")
        .iterator(chunk_size=CHUNK)
    ):
        row = _counted(counts, "demonstrations", author, on, pk, seconds)
        row.approved += status == Demonstration.Status.APPROVED


def _count_reviews(rows: QuerySet, counts: Counts) -> None:
    for reviewer, pk, on, seconds in (
        _with_day(rows)
        .values_list("reviewer_id", "pk", "on", "time_spent_s")
        .iterator(chunk_size=CHUNK)
    ):
        _counted(counts, "reviews", reviewer, on, pk, seconds)


def _count_rankings(rows: QuerySet, counts: Counts) -> None:
    """Each ranking against its comparison's merged order, when two raters or more made it
    (alone, a rater is the consensus: that says nothing), and against its gold order."""
    ranked = (
        _with_day(rows)
        .values_list("rater_id", "pk", "on", "time_spent_s", "comparison_id", "ranking")
        .iterator(chunk_size=CHUNK)
    )
    for chunk in _batched(ranked, CHUNK):
        comparisons = Comparison.objects.filter(pk__in={ranking[4] for ranking in chunk})
        consensus = {
            pk: pair_values(merged)
            for pk, merged in comparisons.filter(ranking_count__gte=2).values_list(
                "pk", "consensus_ranked_pairs"
            )
            if merged
        }
        gold = {
            pk: pair_values(order)
            for pk, order in comparisons.exclude(gold_ranking=[]).values_list("pk", "gold_ranking")
        }
        for rater, pk, on, seconds, comparison, ranking in chunk:
            row = _counted(counts, "rankings", rater, on, pk, seconds)
            mine = pair_values(ranking)
            for pair, value in mine.items():
                if pair in consensus.get(comparison, ()):
                    row.consensus_pairs += 1
                    row.consensus_alike += consensus[comparison][pair] == value
                if pair in gold.get(comparison, ()):
                    row.gold_pairs += 1
                    row.gold_right += gold[comparison][pair] == value


COUNTERS: dict[str, Callable[[QuerySet, Counts], None]] = {
    "demonstrations": _count_demonstrations,
    "reviews": _count_reviews,
    "rankings": _count_rankings,
}


def _count(kind: str, rows: QuerySet) -> Counts:
    counts: Counts = {}
    COUNTERS[kind](rows, counts)
    return counts


def _add_running(rows: Iterable[PersonDay], running: dict[int, dict[str, int]]) -> None:
    """Set each row's seconds_through from `running` (per person, the counts before it),
    in day order, and leave `running` at the last day's."""
    for row in sorted(rows, key=lambda r: (r.user_id, r.day)):
        total = running.setdefault(row.user_id, {})
        for value, items in row.seconds.items():
            total[value] = total.get(value, 0) + items
        row.seconds_through = dict(total)


def _recount_all(kind: str) -> None:
    """Every day of `kind` from scratch, a block of days at a time."""
    PersonDay.objects.filter(kind=kind).delete()
    events = _events(kind)
    first = events.aggregate(first=Min("created_at"))["first"]
    if first is None:
        return
    running: dict[int, dict[str, int]] = {}
    start, end = day_of(first), today() + timedelta(days=2)  # past any day begun meanwhile
    while start < end:
        rows = events.filter(
            created_at__gte=day_start(start), created_at__lt=day_start(start + BLOCK)
        )
        counts = _count(kind, rows)
        _add_running(counts.values(), running)
        PersonDay.objects.bulk_create(counts.values(), batch_size=1000)
        start += BLOCK


def _made_since(kind: str, since: date) -> QuerySet:
    """The rows of `kind` made on or after `since`, found from the first id it held."""
    first = first_id_on_or_after(PersonDay.objects.filter(kind=kind), since)
    return _events(kind).filter(pk__gte=first, created_at__gte=day_start(since))


def _person_days_changed_before(kind: str, since: date) -> set[tuple[int, date]]:
    """The (person, day) pairs before `since` whose figures of `kind` changed after `since`
    began: only theirs are recounted, not their days' everyone."""
    began = day_start(since)
    events = _events(kind)
    if kind == "demonstrations":
        changed = events.filter(updated_at__gte=began, created_at__lt=began)
    elif kind == "rankings":
        changed = events.filter(
            comparison_id__in=_made_since(kind, since).values("comparison_id"),
            created_at__lt=began,
        )
    else:
        return set()
    return set(_with_day(changed).values_list(PERSON[kind], "on").distinct().order_by())


def _of_person_days(keys: Iterable[tuple[int, date]]) -> Q:
    wanted = Q()
    for user, day in keys:
        wanted |= Q(user_id=user, day=day)
    return wanted


def _rows_of_person_days(kind: str, keys: set[tuple[int, date]]) -> QuerySet:
    """The rows of `kind` of these (person, day) pairs, each found by the ids it held."""
    bounds = {
        (row.user_id, row.day): (row.first_id, row.last_id)
        for row in PersonDay.objects.filter(kind=kind)
        .filter(_of_person_days(keys))
        .only("user_id", "day", "first_id", "last_id")
    }
    wanted = Q()
    for user, day in keys:
        one = Q(created_at__gte=day_start(day), created_at__lt=day_start(day + timedelta(days=1)))
        one &= Q(**{PERSON[kind]: user})
        if (user, day) in bounds:
            one &= Q(pk__gte=bounds[(user, day)][0], pk__lte=bounds[(user, day)][1])
        wanted |= one
    return _events(kind).filter(wanted)


def _replace(kind: str, stale: QuerySet[PersonDay], counts: Counts) -> None:
    """Put `counts` in place of the `stale` rows; rebuild the running counts of the people
    whose times on task changed, from the first day that changed."""
    old = {
        (row.user_id, row.day): row
        for row in stale.only("user_id", "day", "seconds", "seconds_through")
    }
    rebuild_from: dict[int, date] = {}
    for key in old.keys() | counts.keys():
        before, after = old.get(key), counts.get(key)
        if before is not None and after is not None and before.seconds == after.seconds:
            after.seconds_through = before.seconds_through
        else:
            user, day = key
            rebuild_from[user] = min(day, rebuild_from.get(user, day))
    stale.delete()
    PersonDay.objects.bulk_create(counts.values(), batch_size=1000)
    for people in _batched(rebuild_from.items(), KEYS_PER_QUERY):
        _rebuild_running(kind, dict(people))


def _rebuild_running(kind: str, starts: dict[int, date]) -> None:
    """Recompute seconds_through of each person's rows of `kind` from their start day on,
    carrying on from their last row before it."""
    rows = PersonDay.objects.filter(kind=kind)
    before = Q()
    later = Q()
    for user, day in starts.items():
        before |= Q(user_id=user, day__lt=day)
        later |= Q(user_id=user, day__gte=day)
    bases = Q()
    for user, day in (
        rows.filter(before)
        .values("user_id")
        .annotate(last=Max("day"))
        .values_list("user_id", "last")
    ):
        bases |= Q(user_id=user, day=day)
    running: dict[int, dict[str, int]] = {}
    if bases:
        running = {
            user: dict(through)
            for user, through in rows.filter(bases).values_list("user_id", "seconds_through")
        }
    changed = list(rows.filter(later).only("user_id", "day", "seconds"))
    _add_running(changed, running)
    PersonDay.objects.bulk_update(changed, ["seconds_through"], batch_size=500)


def people_refresh(*, since: date | None) -> None:
    """Bring every PersonDay up to date: from scratch when `since` is None, else the days
    from `since` on and the older days that changed (see the module docstring)."""
    for kind in WORK_KINDS:
        if since is None:
            _recount_all(kind)
            continue
        changed_before = _person_days_changed_before(kind, since)
        recent = _count(kind, _made_since(kind, since))
        _replace(kind, PersonDay.objects.filter(kind=kind, day__gte=since), recent)
        for batch in _batched(sorted(changed_before), KEYS_PER_QUERY):
            keys = set(batch)
            _replace(
                kind,
                PersonDay.objects.filter(kind=kind).filter(_of_person_days(keys)),
                _count(kind, _rows_of_person_days(kind, keys)),
            )
