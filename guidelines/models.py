from django.conf import settings
from django.db import models


class Guideline(models.Model):
    """A labeling instruction document; its text lives in numbered versions."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    # Answering your own prompt tends to produce the reply you had in mind when writing
    # it, not the one the guideline asks for; most projects forbid it.
    own_prompts_answerable = models.BooleanField(
        default=False, help_text="Labelers may write demonstrations for prompts they wrote"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title


class GuidelineVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    guideline = models.ForeignKey(Guideline, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown")
    # Rendered and sanitized when the body is written; a published body never changes,
    # so neither does this.
    html = models.TextField(editable=False, default="")
    summary = models.CharField(max_length=500, blank=True, help_text="What changed")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["guideline", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["guideline", "number"], name="guideline_version_number_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(published_at__isnull=False),
                name="guideline_version_published_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guideline.slug} v{self.number}"

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # The database refuses this too on PostgreSQL (migration 0003).
        if not self.is_draft:
            raise ValueError(f"{self} is {self.status}: published versions are never deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class Acknowledgement(models.Model):
    """A user's statement that they read a published version."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(
        GuidelineVersion, on_delete=models.PROTECT, related_name="acknowledgements"
    )
    acknowledged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "version"], name="acknowledgement_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.version}"
