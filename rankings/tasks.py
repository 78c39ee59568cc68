"""Celery tasks of the rankings app: take ids, call a service."""

from celery import shared_task

from rankings.priority import priorities_refresh as refresh


@shared_task(name="rankings.tasks.priorities_refresh", acks_late=True)
def priorities_refresh(guideline_id: int) -> int:
    """Re-order a guideline's open ranking tasks after its weights changed."""
    return refresh(guideline_id=guideline_id)
