from django.conf import settings
from django.db import models

from guidelines.models import Guideline, GuidelineVersion


class Prompt(models.Model):
    """A conversation context awaiting an assistant reply.

    `messages` is a list of {"role", "content"}: an optional system message, then user and
    assistant turns alternating, ending on a user turn.
    """

    class Category(models.TextChoices):
        # InstructGPT's prompt categories.
        GENERATION = "generation", "Generation"
        OPEN_QA = "open_qa", "Open QA"
        BRAINSTORMING = "brainstorming", "Brainstorming"
        CHAT = "chat", "Chat"
        REWRITE = "rewrite", "Rewrite"
        SUMMARIZATION = "summarization", "Summarization"
        CLASSIFICATION = "classification", "Classification"
        CLOSED_QA = "closed_qa", "Closed QA"
        EXTRACTION = "extraction", "Extraction"
        OTHER = "other", "Other"

    class Source(models.TextChoices):
        WRITTEN = "written", "Written by a labeler"
        IMPORTED = "imported", "Imported"
        GENERATED = "generated", "Generated"

    guideline = models.ForeignKey(Guideline, on_delete=models.PROTECT, related_name="prompts")
    guideline_version = models.ForeignKey(
        GuidelineVersion,
        on_delete=models.PROTECT,
        related_name="prompts",
        help_text="The version the prompt was written or imported under",
    )
    messages = models.JSONField()
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    language = models.CharField(max_length=16, default="en")
    tags = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WRITTEN)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="prompts",
    )
    sensitive = models.BooleanField(default=False, help_text="Warn before showing the text")
    wanted_demonstrations = models.PositiveSmallIntegerField(default=1)
    # sha256 of the normalised messages: the key that keeps re-imports from duplicating.
    content_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(wanted_demonstrations__gte=1),
                name="prompt_wants_a_demonstration",
            ),
        ]

    def __str__(self) -> str:
        first_user = next((m["content"] for m in self.messages if m.get("role") == "user"), "")
        return first_user[:60]
