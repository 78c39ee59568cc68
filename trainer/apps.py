from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from trainer.models import GenerationJob


def _generation_queue(job: GenerationJob) -> str:
    """A generation only waits on HTTP (its replies come from /v1 and the sources), so it
    goes to the drafts queue and never waits behind a training run; with best-of-n it
    scores the replies with a reward model loaded in the worker, which is the training
    worker's work."""
    return "training" if job.best_of else "drafts"


class TrainerConfig(AppConfig):
    name = "trainer"
    verbose_name = "Training"

    def ready(self) -> None:
        from jobs.services import JobKind, job_kind_register
        from trainer.models import DraftJob, EvaluationJob, GenerationJob, TrainingRun

        job_kind_register(
            TrainingRun,
            JobKind("trainer.tasks.train_run", "Training run", "trainer-run-page", "run_id"),
        )
        job_kind_register(
            GenerationJob,
            JobKind(
                "trainer.tasks.generate_candidates",
                "Generation",
                "trainer-generation-page",
                "job_id",
                queue_of=_generation_queue,
            ),
        )
        job_kind_register(
            DraftJob,
            JobKind("trainer.tasks.generate_drafts", "Drafts", "trainer-drafts-page", "job_id"),
        )
        job_kind_register(
            EvaluationJob,
            JobKind(
                "trainer.tasks.evaluate_models",
                "Evaluation",
                "trainer-evaluation-page",
                "job_id",
            ),
        )
