"""What the platform imports and exports: an uploaded file being imported, the lines it
already imported, and the dataset snapshots training runs are made from."""

from django.db import models

from jobs.models import Job


class ImportJob(Job):
    """One uploaded file being imported line by line, with a report of every bad line."""

    class Format(models.TextChoices):
        HH_RLHF = "hh-rlhf", "HH-RLHF preference pairs"
        OASST = "oasst", "OpenAssistant message trees"
        ALPACA = "alpaca", "Alpaca-style instructions"
        PROMPTS = "prompts-jsonl", "Prompts (JSONL)"
        CANDIDATES = "candidates-jsonl", "Candidates to rank (JSONL)"

    format = models.CharField(max_length=32, choices=Format.choices)
    guideline = models.ForeignKey(
        "guidelines.Guideline", on_delete=models.PROTECT, related_name="+"
    )
    file = models.CharField(max_length=500, help_text="Path under DATA_DIR")
    original_name = models.CharField(max_length=255, blank=True)
    # All or nothing: one bad line and nothing from the file is kept.
    strict = models.BooleanField(default=False)
    lines_total = models.PositiveIntegerField(default=0)
    lines_done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(
        default=list, blank=True, help_text="[{line, reason}], the first 1,000"
    )
    error_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"import {self.pk} ({self.format}, {self.status})"

    @property
    def counts_shown(self) -> list[tuple[str, int]]:
        """The counts in words, as the pages show them ("lines imported", not the API's key
        "lines_imported"); static/js/job-progress.js words them the same way."""
        return [(name.replace("_", " "), n) for name, n in self.counts.items()]


class ImportedLine(models.Model):
    """A line already imported, by content: importing the same file again adds nothing."""

    key = models.CharField(max_length=64, unique=True, help_text="sha256 of format and line")
    job = models.ForeignKey(ImportJob, on_delete=models.SET_NULL, null=True, related_name="+")

    def __str__(self) -> str:
        return self.key


# The words for `filters.source` (dataset_io.export_rows.LABEL_SOURCES).
LABELS_FROM = {
    "human": "people's labels",
    "ai": "AI raters' labels",
    "all": "people's and AI raters' labels",
}


class DatasetSnapshot(Job):
    """An exported dataset: files written once, published atomically, never changed."""

    class Kind(models.TextChoices):
        SFT = "sft", "SFT conversations"
        PREFERENCE = "preference", "Preference pairs"
        RANKINGS = "rankings", "K-wise rankings"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    filters = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    files = models.JSONField(default=dict, blank=True, help_text="{split: path under DATA_DIR}")
    sha256 = models.JSONField(default=dict, blank=True)
    guideline_versions = models.JSONField(default=list, blank=True)
    # The request and the state of the data it read when it was exported
    # (dataset_io.fingerprints): the schedule and a run's fresh export reuse a published
    # snapshot with the same one instead of writing the same bytes again.
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    card = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.kind} snapshot {self.pk} ({self.status})"

    @property
    def labels_from(self) -> str:
        """Whose labels it holds, as its filters asked (export_rows.label_source)."""
        return LABELS_FROM[self.filters.get("source") or "human"]
