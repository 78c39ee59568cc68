from django.conf import settings
from django.db import models


class TrainingRun(models.Model):
    """One SFT or reward-model training job, from queued to finished."""

    class Kind(models.TextChoices):
        SFT = "sft", "Supervised fine-tuning"
        REWARD = "reward", "Reward model"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    base_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="Local model directory; blank: the built-in tiny model",
    )
    config = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0) & models.Q(progress__lte=1.0),
                name="training_run_progress_is_a_fraction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"
