from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class ModelSource(models.Model):
    """An OpenAI-compatible server the platform asks for replies: vLLM, Ollama, llama.cpp,
    TGI, or another copy of this platform's own /v1. Drafts and candidates come from it
    by name, so what it wrote stays labelled after the row is gone."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(max_length=500, help_text="Up to /v1, e.g. http://host:8000/v1")
    model = models.CharField(max_length=200, help_text="The model name the server knows")
    # Sent as a bearer token and never shown again: no API answer, repr, log line or job
    # error carries it.
    api_key = models.CharField(max_length=500, blank=True)
    max_concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    timeout_s = models.FloatField(
        default=60.0, validators=[MinValueValidator(1.0), MaxValueValidator(3600.0)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_concurrency__gte=1), name="source_sends_at_least_one"
            ),
        ]

    def __str__(self) -> str:
        return f"source {self.name}"

    def __repr__(self) -> str:
        # Django's default repr is built from __str__ and would stay safe, but a field list
        # someone adds later must not take the key with it.
        return f"<ModelSource {self.pk} {self.name} {self.base_url} model={self.model}>"

    @property
    def label(self) -> str:
        """How drafts and candidates name where they came from."""
        return f"source:{self.name}"
