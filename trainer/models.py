from __future__ import annotations

from django.db import models

from jobs.models import Job, JobStatus
from trainer.ml.methods import METHODS, method_kinds_producing


def method_label(kind: str) -> str:
    """What pages call a run or model version of `kind`: its method's label, or the bare
    kind for one no method is registered for any more."""
    method = METHODS.get(kind)
    return method.label if method else kind


class TrainingRun(Job):
    """One training job of a registered method (trainer.ml.methods), from queued to finished."""

    Status = JobStatus

    # A registered training method's name: the registry, not `choices`, says which are
    # allowed, so a new method needs no migration.
    kind = models.CharField(max_length=16)
    snapshot = models.ForeignKey(
        "datasets.DatasetSnapshot",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="training_runs",
        help_text="Blank when queued: a fresh export is made when the run starts",
    )
    base_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="Local model directory or model:<id>; blank: the built-in tiny model",
    )
    config = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    eta_s = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="The latest of each metric")
    history = models.JSONField(default=list, blank=True, help_text="Every logged step")
    logs = models.TextField(blank=True)

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

    @property
    def kind_label(self) -> str:
        return method_label(self.kind)

    @property
    def output_dir(self) -> str:
        """Under DATA_DIR: checkpoints while it runs, the saved model after. The creation
        time is in the name because a reset database reuses ids, and a new run must never
        resume from an old one's checkpoints."""
        return f"runs/{self.pk}-{self.created_at:%Y%m%dT%H%M%S%f}"


class ModelVersionManager(models.Manager):
    def promoted(self, product: str) -> ModelVersion | None:
        """The one promoted model of a product (POLICY or REWARD), whichever method made
        it: promotion is exclusive per product (trainer.training.model_promote)."""
        return self.filter(kind__in=method_kinds_producing(product), promoted=True).first()


class ModelVersion(models.Model):
    """A trained model kept for good, with everything it was made from."""

    # Its run's kind: a registered training method's name.
    kind = models.CharField(max_length=16)
    run = models.OneToOneField(TrainingRun, on_delete=models.PROTECT, related_name="model")
    snapshot = models.ForeignKey(
        "datasets.DatasetSnapshot", on_delete=models.PROTECT, null=True, related_name="+"
    )
    guideline_versions = models.JSONField(default=list, blank=True)
    base_model = models.CharField(max_length=500, blank=True)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=500, help_text="Saved model directory under DATA_DIR")
    promoted = models.BooleanField(default=False)
    promoted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionManager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Generation and the playground use "the" promoted model of each kind.
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(promoted=True),
                name="one_promoted_model_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} model {self.pk}"

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.pk}"

    @property
    def kind_label(self) -> str:
        return method_label(self.kind)

    def lineage(self) -> list[ModelVersion]:
        """This version and those it was trained from, following each base of
        "model:<id>", nearest first."""
        chain, seen = [], set()
        current: ModelVersion | None = self
        while current is not None and current.pk not in seen:
            chain.append(current)
            seen.add(current.pk)
            parent = current.parent_id
            current = ModelVersion.objects.filter(pk=parent).first() if parent else None
        return chain

    @property
    def parent_id(self) -> int | None:
        """The id of the version this one was trained from, when its base is "model:<id>";
        None for a directory or the built-in model."""
        number = self.base_model.removeprefix("model:")
        if self.base_model.startswith("model:") and number.isascii() and number.isdigit():
            return int(number)
        return None

    @property
    def produces(self) -> str | None:
        """What it is for, by its method: POLICY (it answers) or REWARD (it scores); None
        for a kind no method is registered for any more."""
        method = METHODS.get(self.kind)
        return method.produces if method else None


class GenerationJob(Job):
    """Sampling K candidates per prompt from a policy model version (SFT, say) and filing each set
    as a new comparison task: the step that closes the loop."""

    # Null when every candidate comes from model sources.
    model = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="generations",
    )
    prompts = models.JSONField(default=list, help_text="Prompt ids, in order")
    # Replies per prompt from `model` (0 without one).
    k = models.PositiveSmallIntegerField(default=4)
    # The model sources sampled beside it: [{"source": id, "name": "...", "k": n}]; the
    # name stays readable after a source is deleted.
    sources = models.JSONField(default=list, blank=True)
    temperature = models.FloatField(default=0.8)
    top_p = models.FloatField(default=0.95)
    max_new_tokens = models.PositiveIntegerField(default=128)
    overlap = models.PositiveSmallIntegerField(default=3)
    # Prompt id -> comparison id: a retried job skips the prompts already filed.
    filed = models.JSONField(default=dict, blank=True)
    # Prompt id -> why nothing was filed for it (a source that failed for it).
    failures = models.JSONField(default=dict, blank=True)
    # Best-of-n: replies sampled per prompt, all origins together, of which the K that
    # `reward_model` scores highest are filed; null when every reply sampled is filed.
    best_of = models.PositiveSmallIntegerField(null=True, blank=True)
    reward_model = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="best_of_generations",
    )
    # Prompt id -> every reply sampled for it, in sampling order, as {"model", "reward",
    # "kept"}: what best-of-n chose from and what it kept.
    rewards = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"generation {self.pk} ({self.status})"

    def reward_mean(self, *, kept: bool) -> float | None:
        """The mean reward of every reply sampled so far, or of those kept; None before
        any was scored."""
        found = [
            sample["reward"]
            for samples in self.rewards.values()
            for sample in samples
            if sample["reward"] is not None and (sample["kept"] or not kept)
        ]
        return sum(found) / len(found) if found else None

    @property
    def reward_mean_sampled(self) -> float | None:
        return self.reward_mean(kept=False)

    @property
    def reward_mean_kept(self) -> float | None:
        return self.reward_mean(kept=True)

    @property
    def progress(self) -> float:
        done = len(self.filed) + len(set(self.failures) - set(self.filed))
        return done / len(self.prompts) if self.prompts else 0.0


class DraftJob(Job):
    """A model draft for each of a list of prompts, from a model version of the platform
    or from a model source, stored as labeling Drafts for labelers to start from."""

    model = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="draft_jobs"
    )
    source = models.ForeignKey(
        "sources.ModelSource",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="draft_jobs",
    )
    # What the drafts are labelled with: the version's name, or source:<name>, kept when
    # the source is deleted.
    origin_name = models.CharField(max_length=200)
    prompts = models.JSONField(default=list, help_text="Prompt ids, in order")
    temperature = models.FloatField(default=0.7)
    top_p = models.FloatField(default=0.95)
    max_new_tokens = models.PositiveIntegerField(default=256)
    # Prompt id -> draft id: a retried job skips the prompts that have theirs.
    made = models.JSONField(default=dict, blank=True)
    # Prompt id -> what went wrong for it ("Type: message"); tried again on a retry.
    failures = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"drafts {self.pk} from {self.origin_name} ({self.status})"

    @property
    def progress(self) -> float:
        done = len(self.made) + len(set(self.failures) - set(self.made))
        return done / len(self.prompts) if self.prompts else 0.0


class EvaluationJob(Job):
    """A generative model version against a baseline on a list of prompts: both answer
    every prompt, and a judge (the promoted reward model, a model source asked in both
    orders, or people in the ranking queue) says which reply is better."""

    class Judge(models.TextChoices):
        REWARD = "reward", "Reward model"
        SOURCE = "source", "Model source (AI judge)"
        HUMAN = "human", "People (ranking queue)"

    model = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="evaluations")
    baseline = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    judge = models.CharField(max_length=16, choices=Judge.choices)
    # The reward model promoted when the evaluation was asked for: a later promotion
    # does not change the judge of a job half done.
    reward_model = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    judge_source = models.ForeignKey(
        "sources.ModelSource",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="evaluations",
    )
    # Who judged, readable after a source is deleted: reward-4, source:<name>, human.
    judge_name = models.CharField(max_length=200)
    prompts = models.JSONField(default=list, help_text="Prompt ids, in order")
    # True when the prompts were chosen as held out from both models' training data.
    held_out = models.BooleanField(default=False)
    temperature = models.FloatField(default=0.7)
    top_p = models.FloatField(default=0.95)
    max_new_tokens = models.PositiveIntegerField(default=128)
    # Raters per comparison for the human judge.
    overlap = models.PositiveSmallIntegerField(default=1)
    # Prompt id -> {"model": reply, "baseline": reply}: a retried job answers only the rest.
    replies = models.JSONField(default=dict, blank=True)
    # Prompt id -> {"outcome": "win" | "tie" | "loss", and what the judge said}.
    results = models.JSONField(default=dict, blank=True)
    # Human judge: prompt id -> {"comparison": id, "model_candidate": id, "baseline_candidate": id}.
    filed = models.JSONField(default=dict, blank=True)
    # Prompt id -> why it has no outcome ("Type: message", or the judge's unreadable answer).
    failures = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.model_id} against {self.baseline_id} ({self.status})"

    @property
    def progress(self) -> float:
        done = set(self.results) | set(self.filed) | set(self.failures)
        return len(done) / len(self.prompts) if self.prompts else 0.0
