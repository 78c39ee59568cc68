"""What every long job of the platform is made of (imports, exports, training runs,
generations, and the kinds added later), and the record of the recovery that keeps them
moving. Each kind is a model of its own app built on `Job`, registered with
`jobs.services.job_kind_register`."""

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Job(models.Model):
    """What every long job has: a status that moves from queued to finished, who asked
    for it, and when it was asked for, started and finished."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When its message was handed to the broker; a queued job without it was committed
    # but never sent, and the recovery sends it (see jobs.services).
    sent_at = models.DateTimeField(null=True, blank=True)
    # A worker writes this while the job runs: a running job whose heartbeat has gone
    # quiet lost its worker and may be taken over (see jobs.services).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    # "Type: message" of what stopped a failed job.
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class JobsRecovery(models.Model):
    """When the recovery of stuck jobs last ran, one row shared by every process, so
    /healthz can tell when no worker or beat is left to run it."""

    ran_at = models.DateTimeField(null=True, blank=True)
    resent = models.PositiveIntegerField(default=0, help_text="Jobs sent again on that run")
    # Made by the migration: a fresh install has not run the recovery yet, and /healthz
    # gives the workers a few minutes from here before it calls that a problem.
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"jobs recovery (last ran {self.ran_at or 'never'})"


class Lease(models.Model):
    """Work that one process at a time may do, by name (jobs.leases): taken until `until`,
    so a holder that died gives it up by itself once that time has passed."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=32, blank=True)
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"lease {self.name} (until {self.until})"
