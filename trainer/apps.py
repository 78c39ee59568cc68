from __future__ import annotations

from django.apps import AppConfig


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
