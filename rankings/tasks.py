"""Celery tasks of the rankings app: take ids, call a service."""

from celery import shared_task

from rankings.priority_settings import guideline_reorder, priorities_owed_refresh


@shared_task(name="rankings.tasks.priorities_refresh", acks_late=True)
def priorities_refresh(guideline_id: int) -> int:
    """Re-order a guideline's open ranking tasks after its weights changed."""
    return guideline_reorder(guideline_id)


@shared_task(name="rankings.tasks.priorities_owed", acks_late=True, expires=120)
def priorities_owed() -> int:
    """Beat's pass: re-order what a lost or unsent message left on old weights."""
    return priorities_owed_refresh()
