"""Worker heartbeats and export jobs."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from .audit import AuditEvent
from .base import StatusMachine


class WorkerHeartbeat(models.Model):
    """Written by a scheduled task every minute: proof that some worker cluster is running."""

    name = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"


class ExportJob(StatusMachine, models.Model):
    """An audit bundle: the packets of the chosen cases rendered by the worker into one file.

    The case list is fixed when the job is asked for, so progress has a known end; the worker
    re-reads the job by id and may start again from the beginning if it is delivered twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Rendering"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    class Output(models.TextChoices):
        PDF = "pdf", "One combined PDF"
        ZIP = "zip", "A zip of PDFs, one per case"

    NOUN = "An export"
    TRANSITIONS: dict[str, set[str]] = {
        Status.QUEUED: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.DONE, Status.FAILED},
        Status.DONE: set(),
        Status.FAILED: set(),
    }

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="export_jobs")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    output = models.CharField(max_length=8, choices=Output.choices, default=Output.ZIP)
    filters = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="As the owner chose.")
    case_ids = models.JSONField(default=list, help_text="The cases matched when the bundle was asked for.")
    total = models.PositiveIntegerField(default=0)
    done_count = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent rendered, 0 to 100.")
    file = models.FileField(upload_to="exports/", blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="exportjob_progress_percent"),
            models.CheckConstraint(condition=Q(done_count__lte=F("total")), name="exportjob_done_within_total"),
            models.CheckConstraint(
                condition=~Q(status="done") | (Q(progress=100) & ~Q(file="")), name="exportjob_done_has_file"
            ),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.status}, {self.done_count}/{self.total})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    def set_status(self, new: str, *, actor=None, reason: str = "", **fields) -> None:
        with transaction.atomic():
            old = self._move(new, fields)
            AuditEvent.record(
                f"export.{new}", actor=actor, obj=self, summary=reason or f"{old} → {new}", old=old, cases=self.total
            )


class DirtyCaseKey(models.Model):
    """A fact the sweep has not read yet, or a case whose clock falls due: what the next run rebuilds.

    ``key`` is a fact's key (``order:12``, ``product:7``, ``shipment:3``, ``supplier:2``,
    ``customer:5``, ``all``) written by database triggers in the transaction of the change, or a
    case's dedupe key (``backorder:order:12``) written by a decision or by the sweep's clock. A
    change is due at once (``due_at`` at the minimum); a clock row at the time the case's facts
    read differently by time alone (a new day, a deadline passing). Rows are claimed with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` and deleted in the run's transaction; every row of a
    claimed key goes at once, so a key marked many times is rebuilt once.
    """

    key = models.CharField(max_length=64)
    due_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["due_at", "id"], name="dirty_key_due"),
            models.Index(fields=["key"], name="dirty_key_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} due {self.due_at:%Y-%m-%d %H:%M}"
