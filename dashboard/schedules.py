"""The beat schedule as admins see and change it: django-celery-beat's periodic tasks.

Interval rows are shared (the migrations' "every hour" serves several entries), so a new
cadence points the entry at the interval row for it rather than editing a shared one.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django_celery_beat.models import IntervalSchedule, PeriodicTask

PERIODS = [
    (IntervalSchedule.MINUTES, "minutes"),
    (IntervalSchedule.HOURS, "hours"),
    (IntervalSchedule.DAYS, "days"),
]
LONGEST = timedelta(days=365)
# The most `every` can be: a year in the smallest period. Bounds the input before any
# arithmetic on it.
MAX_EVERY = int(LONGEST / timedelta(minutes=1))
# Entries the platform needs to stay healthy, with the longest cadence each may be given:
# without the recovery check a job whose worker died is never taken over (and /healthz says
# so after a few minutes), without the rollups the overview and people pages go stale.
# They can be made to run more or less often within that bound, never turned off.
SYSTEM_TASKS = {
    "jobs.tasks.jobs_recover": timedelta(minutes=2),
    "dashboard.tasks.rollup_refresh": timedelta(hours=1),
}


class ScheduleInputError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def schedule_list() -> QuerySet[PeriodicTask]:
    return PeriodicTask.objects.select_related("interval", "crontab", "solar", "clocked").order_by(
        "name"
    )


def schedule_is_system(schedule: PeriodicTask) -> bool:
    return schedule.task in SYSTEM_TASKS


def schedule_kind(schedule: PeriodicTask) -> str:
    for kind in ("interval", "crontab", "solar", "clocked"):
        if getattr(schedule, f"{kind}_id"):
            return kind
    return "none"


def schedule_cadence(schedule: PeriodicTask) -> str:
    """The cadence in words: "every 2 hours", a crontab line, a solar event or a time."""
    scheduler = schedule.scheduler
    return str(scheduler) if scheduler is not None else "no schedule"


@transaction.atomic
def schedule_update(
    *,
    schedule: PeriodicTask,
    enabled: bool | None = None,
    every: int | None = None,
    period: str | None = None,
) -> PeriodicTask:
    """Turn an entry on or off and set how often it runs (every N minutes, hours or days).

    Nothing is saved unless all of it is valid. Saving tells beat, through
    django-celery-beat's change marker, to reload its schedule.
    """
    if every is not None or period is not None:
        interval = schedule.interval
        if interval is None:
            raise ScheduleInputError(
                "every",
                f"This entry runs on a {schedule_kind(schedule)} schedule "
                f"({schedule_cadence(schedule)}); change it in Django's admin.",
            )
        every = interval.every if every is None else every
        period = interval.period if period is None else period
        if period not in dict(PERIODS):
            raise ScheduleInputError("period", "Choose minutes, hours or days.")
        if type(every) is not int or not 1 <= every <= MAX_EVERY:
            raise ScheduleInputError("every", "A whole number, 1 or more.")
        if timedelta(**{period: every}) > LONGEST:
            raise ScheduleInputError("every", "At most once a year: 365 days or fewer.")
        longest = SYSTEM_TASKS.get(schedule.task)
        if longest is not None and timedelta(**{period: every}) > longest:
            raise ScheduleInputError(
                "every",
                f"The platform needs this entry to run at least every {_in_words(longest)}.",
            )
        schedule.interval = IntervalSchedule.objects.filter(every=every, period=period).order_by(
            "pk"
        ).first() or IntervalSchedule.objects.create(every=every, period=period)
    if enabled is not None:
        if not enabled and schedule_is_system(schedule):
            raise ScheduleInputError(
                "enabled", "The platform needs this entry to stay healthy: it cannot be turned off."
            )
        schedule.enabled = enabled
    schedule.save()
    return schedule


def _in_words(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return "minute" if minutes == 1 else f"{minutes} minutes"
