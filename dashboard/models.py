"""The overview's figures, kept ready: one row per metric, key and day, refreshed from the
rows that changed (dashboard/rollup.py), so the page reads a few hundred small rows
instead of counting a million rankings on every visit."""

from django.db import models


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

    def __str__(self) -> str:
        return f"dashboard figures as of {self.refreshed_at}"
