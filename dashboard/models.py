"""The overview's figures, kept ready: one row per metric, key and day, refreshed from the
rows that changed (dashboard/rollup.py), so the page reads a few hundred small rows
instead of counting a million rankings on every visit."""

from django.conf import settings
from django.db import models

# The source of work done here, as opposed to an import's format.
PLATFORM = "platform"
# The kinds of a person's work the People pages count.
WORK_KINDS = ("demonstrations", "reviews", "rankings")


class DailyTally(models.Model):
    """How many events of one kind happened on one day (and, for means, their sum).

    `metric` names what is counted (see rollup.METRICS), `key` splits it (a prompt's
    source, a guideline version's id). `first_id` and `last_id` bound the ids of the rows
    counted: the next refresh starts from them instead of scanning the whole table.
    """

    metric = models.CharField(max_length=32)
    key = models.CharField(max_length=100, blank=True, default="")
    day = models.DateField()
    count = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "day", "key"], name="daily_tally_once"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}[{self.key}] on {self.day}: {self.count}"


class Rollup(models.Model):
    """The single row that says when the tallies were last refreshed, how long that took,
    and the figures that are states rather than events (tasks open now, demonstrations
    by status), counted afresh at each refresh."""

    refreshed_at = models.DateTimeField(null=True, blank=True)
    took_ms = models.FloatField(default=0.0)
    current = models.JSONField(default=dict, blank=True)
    # Whether the per-person days were ever counted: a database that had tallies before
    # they existed counts them from scratch once, in the next refresh (in a worker, not
    # on the first visit, as a never-refreshed dashboard would).
    people_counted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"dashboard figures as of {self.refreshed_at}"


class PersonDay(models.Model):
    """One person's work of one kind (demonstrations, reviews, rankings) on one day, kept
    by the same refresh as the tallies (dashboard/people_rollup.py) for the People pages.

    Sums over a window are plain sums of these rows. Medians are not, so each row keeps
    its day's times on task as value counts (`seconds`, {seconds: items}) and the same
    counts summed over every earlier day of theirs as well (`seconds_through`): a window's
    counts are then the newest row's minus the last one before the window, two rows per
    person and kind however long the window.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16)
    day = models.DateField()
    count = models.IntegerField(default=0)
    # Demonstrations approved by now: an approval on a later day recounts this day.
    approved = models.IntegerField(default=0)
    seconds = models.JSONField(default=dict)
    seconds_through = models.JSONField(default=dict)
    # Candidate pairs judged against the comparison's consensus (two raters or more) and
    # against a gold order, and how many of them matched.
    consensus_pairs = models.IntegerField(default=0)
    consensus_alike = models.IntegerField(default=0)
    gold_pairs = models.IntegerField(default=0)
    gold_right = models.IntegerField(default=0)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "day"], name="person_day_once"),
            models.CheckConstraint(condition=models.Q(kind__in=WORK_KINDS), name="person_day_kind"),
        ]
        indexes = [models.Index(fields=["kind", "day"], name="person_day_by_day")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} on {self.day}: {self.count}"
