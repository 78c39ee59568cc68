"""AI feedback: labels made by a model under a guideline version, kept apart from people's.

An AI rater's rankings and revisions live in tables of their own, never in
rankings.Ranking or labeling.Demonstration, so human consensus, agreement, the people page,
the queue and retraining never count them; exports and the agreement page read them only
when asked. Each label carries the rater's name (a model version's, or source:<name>),
kept after the source is deleted, and the guideline version it was made under.
"""

from django.db import models

from guidelines.models import GuidelineVersion
from jobs.models import Job
from labeling.models import Prompt
from rankings.models import Candidate, Comparison


class AIFeedbackJob(Job):
    """A model source or a model version of ours, run as a rater over comparisons (`rank`)
    or prompts (`critique_revise`) under one guideline version."""

    class Kind(models.TextChoices):
        RANK = "rank", "Rank comparisons"
        CRITIQUE_REVISE = "critique_revise", "Critique and revise replies"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.ForeignKey(
        "sources.ModelSource",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ai_feedback_jobs",
    )
    model = models.ForeignKey(
        "trainer.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ai_feedback_jobs",
    )
    # The rater's name on every label it makes: a model version's name or source:<name>.
    rater_name = models.CharField(max_length=200)
    # The version current when the job was asked for; a later publication does not change
    # the guideline a job half done works under.
    guideline_version = models.ForeignKey(
        GuidelineVersion, on_delete=models.PROTECT, related_name="ai_feedback_jobs"
    )
    # Headings of the guideline's sections to judge by; empty: the whole text (rank) or
    # every section, one per item (critique_revise).
    sections = models.JSONField(default=list, blank=True)
    # Comparison ids (rank) or prompt ids (critique_revise), in order.
    items = models.JSONField(default=list)
    # critique_revise: raters per AI-made comparison in the people's ranking queue; 0 keeps
    # them out of it.
    overlap = models.PositiveSmallIntegerField(default=0)
    # Item id -> the label's id (an AIRanking or an AICritique): a retried job skips these.
    made = models.JSONField(default=dict, blank=True)
    # Item id -> why it has no label ("Type: message", or the rater's unreadable answer).
    failures = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["rank", "critique_revise"]),
                name="ai_feedback_job_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"AI feedback {self.pk}: {self.kind} by {self.rater_name} ({self.status})"

    @property
    def progress(self) -> float:
        done = len(self.made) + len(set(self.failures) - set(self.made))
        return done / len(self.items) if self.items else 0.0


class AIRanking(models.Model):
    """An AI rater's ranking of a comparison's candidates, best group first, merged from the
    answers it gave in both orders."""

    class Made(models.TextChoices):
        RANKED = "ranked", "Ranked the comparison"
        REVISED = "revised", "Preferred its own revision"

    comparison = models.ForeignKey(Comparison, on_delete=models.PROTECT, related_name="ai_rankings")
    job = models.ForeignKey(AIFeedbackJob, on_delete=models.PROTECT, related_name="rankings")
    rater_name = models.CharField(max_length=200, db_index=True)
    guideline_version = models.ForeignKey(
        GuidelineVersion, on_delete=models.PROTECT, related_name="ai_rankings"
    )
    ranking = models.JSONField(help_text="[[best ids], [next ids], ...]")
    # ranking_pairs(ranking), as rankings.Ranking keeps them for the exports.
    pairs = models.JSONField(default=list)
    made = models.CharField(max_length=8, choices=Made.choices, default=Made.RANKED)
    # Per order asked: the candidate ids as shown and the answer as given.
    asked = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "rater_name", "guideline_version"],
                name="ai_ranking_once_per_rater_and_version",
            ),
        ]

    def __str__(self) -> str:
        return f"AI ranking {self.pk} of {self.comparison_id} by {self.rater_name}"


class AICritique(models.Model):
    """An AI rater's critique of a reply against one principle of the guideline, and its
    revision; the two replies, the revision preferred, form an AI-made comparison."""

    class ReplyKind(models.TextChoices):
        DRAFT = "draft", "A model draft"
        CANDIDATE = "candidate", "A candidate"
        DEMONSTRATION = "demonstration", "A demonstration"

    job = models.ForeignKey(AIFeedbackJob, on_delete=models.PROTECT, related_name="critiques")
    rater_name = models.CharField(max_length=200, db_index=True)
    guideline_version = models.ForeignKey(
        GuidelineVersion, on_delete=models.PROTECT, related_name="ai_critiques"
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="ai_critiques")
    # What was critiqued, by kind and id (the row may be a draft, a candidate or a
    # demonstration), and its text as it was.
    reply_kind = models.CharField(max_length=16, choices=ReplyKind.choices)
    reply_id = models.BigIntegerField()
    reply = models.TextField()
    principle = models.CharField(max_length=300, help_text="The guideline section's heading")
    critique = models.TextField()
    revision = models.TextField()
    comparison = models.OneToOneField(
        Comparison, on_delete=models.PROTECT, related_name="ai_critique"
    )
    revision_candidate = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "rater_name", "guideline_version"],
                name="ai_critique_once_per_prompt_rater_and_version",
            ),
        ]

    def __str__(self) -> str:
        return f"AI critique {self.pk} of prompt {self.prompt_id} by {self.rater_name}"
