"""The site's days, and where their rows begin. Every figure is counted by the day of the
site's TIME_ZONE, whoever asks: a request may have activated another zone."""

from datetime import date, datetime, time

from django.db.models import Max, Min, QuerySet
from django.utils import timezone


def day_of(moment: datetime) -> date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def today() -> date:
    return day_of(timezone.now())


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def first_id_on_or_after(counted: QuerySet, since: date) -> int:
    """The lowest id of a row made on or after `since`, as far as `counted` (rows with
    `day`, `first_id` and `last_id`: the ids each count covered) knows, so that a recount
    from `since` can find its rows by primary key."""
    first = counted.filter(day__gte=since).aggregate(first=Min("first_id"))["first"]
    if first is not None:
        return first
    last = counted.filter(day__lt=since).aggregate(last=Max("last_id"))["last"]
    return 0 if last is None else last + 1
