"""Celery task of AI feedback: take the id, call the service. On the drafts queue, as it
only waits on HTTP, with the training limits: a job asks its rater (a source, or a model
version through the inference process's /v1) for hours at a time."""

from celery import shared_task

from trainer.tasks import TRAINING_LIMITS


@shared_task(name="ai_feedback.tasks.rate_items", acks_late=True, **TRAINING_LIMITS)
def rate_items(job_id: int) -> str | None:
    from ai_feedback.rating import ai_feedback_run

    job = ai_feedback_run(job_id=job_id)
    return job.status if job else None
