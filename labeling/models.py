from django.conf import settings
from django.db import models

from guidelines.models import Guideline, GuidelineVersion
from labeling.task_kinds import kind_label


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

    class Sensitivity(models.TextChoices):
        NONE = "", "Not sensitive"
        VIOLENCE = "violence", "Violence or gore"
        SELF_HARM = "self_harm", "Self-harm"
        SEXUAL = "sexual", "Sexual content"
        HATE = "hate", "Hate or harassment"
        ABUSE = "abuse", "Abuse of children or vulnerable people"
        OTHER_DISTRESSING = "distressing", "Other distressing content"

    # Non-empty: a warning is shown before the text, and labelers who opted out of this
    # category are never handed it.
    sensitive_category = models.CharField(
        max_length=16, choices=Sensitivity.choices, default="", blank=True
    )
    wanted_demonstrations = models.PositiveSmallIntegerField(default=1)
    # sha256 of the normalised messages: the key that keeps re-imports from duplicating.
    content_hash = models.CharField(max_length=64, db_index=True)
    # Lower-cased text of the turns, compared by trigram similarity to flag near-duplicates.
    search_text = models.TextField(blank=True, default="")
    near_duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The most similar earlier prompt, when it was very similar at submission",
    )
    # A model's draft reply the labeler may start from (its name and text are kept on the
    # demonstration, with how much the labeler changed it).
    draft_model = models.CharField(max_length=200, blank=True)
    draft_text = models.TextField(blank=True)
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


class Draft(models.Model):
    """A model's reply to a prompt, offered to labelers to start their demonstration from.

    Where it came from is kept by name (a model version's, or `source:<name>` for a model
    source): the apps that make drafts sit above labeling, and a draft outlives them.
    """

    class Origin(models.TextChoices):
        MODEL = "model", "A model version of the platform"
        SOURCE = "source", "A model source (an OpenAI-compatible server)"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="drafts")
    text = models.TextField()
    origin = models.CharField(max_length=8, choices=Origin.choices)
    origin_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["prompt", "-created_at"], name="draft_newest_per_prompt")]

    def __str__(self) -> str:
        return f"draft {self.pk} from {self.origin_name} for prompt {self.prompt_id}"


class Task(models.Model):
    """A unit of work handed out by the queue: write a demonstration, review one, or a kind
    another app registers (labeling.task_kinds). It wants `wanted` independent submissions."""

    class Kind:
        """Labeling's own kinds; other apps name theirs."""

        DEMONSTRATION = "demonstration"
        REVIEW = "review"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CLOSED = "closed", "Closed"

    # A kind registered in labeling.task_kinds: the registry, not `choices`, says which.
    kind = models.CharField(max_length=16)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    guideline = models.ForeignKey(Guideline, on_delete=models.PROTECT, related_name="tasks")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="tasks")
    # For review tasks: the demonstration under review.
    demonstration = models.ForeignKey(
        "Demonstration",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="review_tasks",
    )
    # Whose writing the task contains: never handed to them (design.md §5).
    excluded_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    wanted = models.PositiveSmallIntegerField(default=1)
    submitted_count = models.PositiveSmallIntegerField(default=0)
    # Assignments in status "leased", live or expired: with submitted_count, the slots
    # taken. The queue decides on this row, which it locks, rather than on a count of
    # other rows a concurrent request may not see yet (labeling/queue_lease.py).
    leased_count = models.PositiveSmallIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the first lease was taken: among equal priorities the queue hands out started
    # work first.
    started_at = models.DateTimeField(null=True, blank=True)
    # Higher first in the queue. Kinds that keep no priority leave it 0 (oldest first);
    # ranking tasks get theirs from rankings/priority.py. db_default: the benchmarks
    # seed tasks with COPY and raw INSERTs, which name no such column.
    priority = models.FloatField(default=0.0, db_default=0.0)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["kind", "guideline", "-priority", "started_at", "id"],
                name="task_open_queue",
                condition=models.Q(status="open"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(wanted__gte=1), name="task_wants_one_or_more"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    submitted_count__lte=models.F("wanted") - models.F("leased_count")
                ),
                name="task_never_over_assigned",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="review") | models.Q(demonstration__isnull=False),
                name="review_task_names_its_demonstration",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} task {self.pk}"

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)


class Assignment(models.Model):
    """One user's hold on one task: a lease while working, then submitted or skipped.

    A user has at most one assignment per task, so nobody gets a task twice, and a skipped
    task is never offered to them again.
    """

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        # An expired lease whose slot went to someone else, or that ended with its task:
        # the draft stays, and the task may come back to its owner if a slot frees.
        LAPSED = "lapsed", "Lapsed"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The task's kind, kept here so that the database itself allows one lease per person
    # and kind (the constraint below) without the queue locking the person's row.
    kind = models.CharField(max_length=16)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LEASED)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Autosaved work in progress: a reload or a crashed browser loses nothing.
    draft = models.TextField(blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    # Time on task the open page has counted so far, kept with the lease: a reload starts
    # the clock from here instead of from 0:00.
    time_spent_s = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "user"], name="assignment_once_per_user"),
            models.UniqueConstraint(
                fields=["user", "kind"],
                condition=models.Q(status="leased"),
                name="one_lease_per_user_and_kind",
            ),
        ]
        indexes = [models.Index(fields=["task", "status", "expires_at"], name="assignment_live")]

    def __str__(self) -> str:
        return f"{self.user} on {self.task} ({self.status})"


class Demonstration(models.Model):
    """The ideal assistant reply to a prompt, written by a labeler."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        NEEDS_REVISION = "needs_revision", "Needs revision"

    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="demonstrations")
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="demonstrations")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="demonstrations"
    )
    guideline_version = models.ForeignKey(
        GuidelineVersion, on_delete=models.PROTECT, related_name="demonstrations"
    )
    content = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    revision = models.PositiveSmallIntegerField(default=1)
    time_spent_s = models.PositiveIntegerField(default=0)
    # The model draft the labeler started from, if any: which one, its name and text as
    # offered, and how far the submitted reply moved from it (Levenshtein over words in
    # draft_edit_distance, over characters in draft_char_distance).
    draft = models.ForeignKey(
        Draft, on_delete=models.SET_NULL, null=True, blank=True, related_name="demonstrations"
    )
    draft_model = models.CharField(max_length=200, blank=True)
    draft_text = models.TextField(blank=True)
    draft_edit_distance = models.PositiveIntegerField(null=True, blank=True)
    draft_char_distance = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, blank=True)
    # "platform" for demonstrations written here, else the import format they came from.
    source = models.CharField(max_length=32, default="platform", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "idempotency_key"],
                name="demonstration_idempotent",
                condition=~models.Q(idempotency_key=""),
            ),
            models.UniqueConstraint(fields=["task", "author"], name="demonstration_once_per_task"),
        ]
        # The dashboard's refresh finds the demonstrations approved or revised since it
        # last ran (dashboard.people_rollup).
        indexes = [models.Index(fields=["updated_at"], name="demonstration_updated")]

    def __str__(self) -> str:
        return f"demonstration {self.pk} by {self.author}"


class Review(models.Model):
    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        REVISE = "revise", "Send back for revision"

    class Reason(models.TextChoices):
        UNHELPFUL = "unhelpful", "Does not answer the prompt"
        UNTRUTHFUL = "untruthful", "Contains false statements"
        HARMFUL = "harmful", "Harmful or unsafe"
        GUIDELINE = "guideline", "Does not follow the guideline"
        STYLE = "style", "Formatting or style"
        INCOMPLETE = "incomplete", "Incomplete"
        OTHER = "other", "Other"

    demonstration = models.ForeignKey(
        Demonstration, on_delete=models.CASCADE, related_name="reviews"
    )
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    guideline_version = models.ForeignKey(
        GuidelineVersion, on_delete=models.PROTECT, related_name="reviews"
    )
    revision = models.PositiveSmallIntegerField(help_text="The demonstration revision reviewed")
    # Its text as reviewed: a revision's content replaces it, and the next reviewer is
    # shown what changed since.
    reviewed_content = models.TextField(blank=True)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    reasons = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    time_spent_s = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["task", "reviewer"], name="review_once_per_task"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.reviewer} on {self.demonstration_id}"


class LabelerProfile(models.Model):
    """A labeler's own settings: which sensitive categories they opted out of."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labeler_profile"
    )
    sensitive_opt_outs = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"profile of {self.user}"


class TaskExclusion(models.Model):
    """Someone a task must never be handed to, beyond `Task.excluded_user`: a comparison
    whose candidates several people wrote excludes each of them."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="exclusions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "user"], name="task_exclusion_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} never gets {self.task}"
