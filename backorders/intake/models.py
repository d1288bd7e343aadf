"""Intake's own rows: CSV import jobs and the follow-up debounce flag.

Loaded through ``backorders.models`` so Django registers them with the ``backorders`` app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ImportJob(models.Model):
    """One CSV file being imported: its bytes, progress, and the per-row report."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the worker"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=32, help_text="orders, inventory, tracking, ...")
    filename = models.CharField(max_length=255, blank=True)
    content = models.BinaryField(help_text="The uploaded file, as it came.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="Counts: created, updated, skipped, flagged.")
    errors = models.JSONField(default=list, blank=True, help_text="[row, column, reason] per problem.")
    error = models.TextField(blank=True, help_text="Why the whole file failed, when it did.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker running the job holds a lease it renews (a heartbeat); a job whose lease ran out
    # belongs to a worker that died, and the imports.resume schedule hands it to another one, which
    # goes on from the last committed batch (backorders.intake.import_lease).
    lease_token = models.CharField(max_length=32, blank=True, help_text="Who holds the job now.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="The holder is taken as gone after this.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When the holder last said it was alive.")
    resumes = models.PositiveSmallIntegerField(default=0, help_text="Times a worker went on after another stopped.")
    checkpoint = models.JSONField(
        default=dict, blank=True, help_text="The last committed batch: its number, rows done, and the report so far."
    )
    note = models.TextField(blank=True, help_text="What happened on the way (a worker stopped, the job resumed).")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed_rows__lte=models.F("total_rows")) | Q(total_rows=0),
                name="import_job_progress_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} import {self.filename or self.pk} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def stalled(self) -> bool:
        """Running, but its worker stopped renewing the lease: it waits for the resume schedule."""
        return self.status == self.Status.RUNNING and self.lease_until is not None and self.lease_until < timezone.now()

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(100 * self.processed_rows / self.total_rows))


class TaskDebounce(models.Model):
    """At most one pending run of a follow-up task (such as the sweep) enqueued by intake."""

    task = models.CharField(max_length=200, unique=True, help_text="The dotted name of the task.")
    pending_since = models.DateTimeField(null=True, blank=True, help_text="Enqueued and not finished yet.")

    def __str__(self) -> str:
        return f"{self.task} ({'pending' if self.pending_since else 'idle'})"
