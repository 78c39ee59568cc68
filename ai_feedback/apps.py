from django.apps import AppConfig


class AiFeedbackConfig(AppConfig):
    name = "ai_feedback"
    verbose_name = "AI feedback"

    def ready(self) -> None:
        from ai_feedback.agreement import ai_agreement_rows
        from ai_feedback.export_rows import (
            ai_critiques_state,
            ai_preference_rows,
            ai_rankings_rows,
            ai_rankings_state,
            ai_sft_rows,
        )
        from ai_feedback.models import AIFeedbackJob
        from dataset_io.export_rows import ai_rows_register
        from dataset_io.fingerprints import ai_state_register
        from dataset_io.models import DatasetSnapshot
        from jobs.services import JobKind, job_kind_register
        from rankings.selectors import agreement_part_register

        job_kind_register(
            AIFeedbackJob,
            JobKind("ai_feedback.tasks.rate_items", "AI feedback", "ai-feedback-page", "job_id"),
        )
        ai_rows_register(DatasetSnapshot.Kind.SFT, ai_sft_rows)
        ai_rows_register(DatasetSnapshot.Kind.PREFERENCE, ai_preference_rows)
        ai_rows_register(DatasetSnapshot.Kind.RANKINGS, ai_rankings_rows)
        ai_state_register(DatasetSnapshot.Kind.SFT, ai_critiques_state)
        ai_state_register(DatasetSnapshot.Kind.PREFERENCE, ai_rankings_state)
        ai_state_register(DatasetSnapshot.Kind.RANKINGS, ai_rankings_state)
        agreement_part_register("ai_raters", ai_agreement_rows)
