"""Writes for the admin's side of the ranking queue's priority: a guideline's order and
weights, and the re-ordering of its open tasks they call for (rankings/priority.py has
the formula, rankings/priority_report.py what the queue holds)."""

import math
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config.errors import InputError
from config.publish import BrokerUnavailable, task_publish
from guidelines.models import Guideline
from rankings.models import QueuePriority, QueueRate
from rankings.priority import per_day, priorities_refresh

WEIGHTS = ("weight_uncertainty", "weight_disagreement")
MAX_WEIGHT = 100.0
REFRESH_TASK = "rankings.tasks.priorities_refresh"
# How long a save's own re-ordering message has before beat's pass takes the work over.
OWED_AFTER_S = 60


def _weight_checked(value: object, field: str) -> float:
    wrong = InputError(field, f"A number from 0 to {MAX_WEIGHT:g}.")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong
    try:
        number = float(value)
    except ValueError:
        raise wrong from None
    if not math.isfinite(number) or not 0 <= number <= MAX_WEIGHT:
        raise wrong
    return number


def queue_priority_set(
    *, guideline: Guideline, changes: dict[str, object], user: AbstractBaseUser
) -> tuple[QueuePriority, bool]:
    """Save the guideline's order and weights (those given; the rest kept), then have a
    worker re-order its open ranking tasks. Answers the row and whether that was sent: if
    the broker does not answer, the settings are kept all the same and beat's pass
    (`priorities_owed_refresh`, every minute) re-orders the tasks once it can."""
    unknown = set(changes) - {"order", *WEIGHTS}
    if unknown:
        raise InputError(sorted(unknown)[0], "Not a setting of the queue's priority.")
    if "order" in changes and changes["order"] not in QueuePriority.Order.values:
        raise InputError("order", f"One of {', '.join(QueuePriority.Order.values)}.")
    checked = {
        field: _weight_checked(changes[field], field) for field in WEIGHTS if field in changes
    }
    with transaction.atomic():
        # Created first, then locked: two first saves at once take turns on one row.
        QueuePriority.objects.get_or_create(guideline=guideline)
        row = QueuePriority.objects.select_for_update().get(guideline=guideline)
        row.order = changes.get("order", row.order)
        for field, value in checked.items():
            setattr(row, field, value)
        row.updated_by = user
        row.save()
    # Sent once committed, so the worker reads these weights, never the ones before.
    try:
        task_publish(REFRESH_TASK, args=[guideline.pk])
    except BrokerUnavailable:
        return row, False
    return row, True


def priorities_owed_refresh() -> int:
    """Re-order the open tasks of every guideline whose weights changed since its tasks
    were last ordered, and all of them if the day rate changed; answers how many
    guidelines were re-ordered."""
    rate_changed = _rate_changed()
    # Saved a minute ago or more: a fresh save's own message gets the first chance.
    settled = timezone.now() - timedelta(seconds=OWED_AFTER_S)
    owed = QueuePriority.objects.filter(
        Q(applied_at__isnull=True) | ~Q(applied_at=F("updated_at")), updated_at__lt=settled
    )
    guideline_ids = list(owed.values_list("guideline_id", flat=True))
    for guideline_id in guideline_ids:
        guideline_reorder(guideline_id)
    if rate_changed:
        priorities_refresh()
        QueueRate.objects.update_or_create(pk=1, defaults={"per_day": per_day()})
    return len(guideline_ids)


def _rate_changed() -> bool:
    """Whether RANKING_PRIORITY_PER_DAY differs from the rate the stored priorities were
    written at. With no record yet, they were written at the current one (the migration
    that gave open tasks their priority read the same setting)."""
    kept, made = QueueRate.objects.get_or_create(pk=1, defaults={"per_day": per_day()})
    return not made and kept.per_day != per_day()


def guideline_reorder(guideline_id: int) -> int:
    """Re-order a guideline's open ranking tasks by its current weights, and record which
    weights those were."""
    applied = (
        QueuePriority.objects.filter(guideline_id=guideline_id)
        .values_list("updated_at", flat=True)
        .first()
    )
    written = priorities_refresh(guideline_id=guideline_id)
    if applied is not None:
        # Only if nobody saved newer weights meanwhile: those are owed their own pass.
        QueuePriority.objects.filter(guideline_id=guideline_id, updated_at=applied).update(
            applied_at=applied
        )
    return written
