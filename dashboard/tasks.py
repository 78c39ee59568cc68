"""Celery tasks of the dashboard: beat keeps the overview's figures fresh."""

from celery import shared_task

from dashboard.rollup import rollup_refresh


@shared_task(name="dashboard.tasks.rollup_refresh", acks_late=True)
def refresh_figures() -> float:
    """Beat runs this on the schedule on the Schedules page (every minute unless changed
    there); it recounts only what arrived since the day before the previous refresh."""
    return rollup_refresh().took_ms
