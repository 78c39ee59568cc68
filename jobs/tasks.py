"""The recovery of jobs of every kind, from beat and from every worker that starts."""

from celery import shared_task
from celery.signals import worker_ready

from jobs.services import jobs_recover_all


@shared_task(name="jobs.tasks.jobs_recover", acks_late=True)
def jobs_recover() -> dict[str, list[int]]:
    """Closes the cancelled jobs whose worker died and sends again the orphaned and the
    never-sent jobs of every registered kind (jobs.services.JOB_KINDS). Runs every minute
    from beat, and once when any worker starts."""
    return jobs_recover_all()


@worker_ready.connect
def _recover_on_start(sender=None, **kwargs) -> None:
    # A worker restarted after a crash picks its own orphans up at once rather than
    # waiting for the next beat tick.
    jobs_recover.delay()
