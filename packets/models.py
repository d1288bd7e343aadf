"""The decision side: cases, their packets, the owner's decisions and what reached customers.

Status changes go through ``set_status()`` methods that check an allowed-transitions table and
write an AuditEvent in the same transaction; an illegal move raises, it is never a silent no-op.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from backorders.models import Customer, Order, OrderLine, Product, Shipment, StorePolicy
from suppliers.models import Supplier


class IllegalTransition(Exception):
    """A status change that the status machine does not allow."""


class StatusMachine:
    """A ``TRANSITIONS`` table and the one move it allows; each model writes its own audit row."""

    TRANSITIONS: dict[str, set[str]] = {}
    NOUN = "A record"

    def _move(self, new: str, fields: dict, *, save: bool = True) -> str:
        """Check the move, set ``status`` and ``fields``, save them; returns the old status."""
        old = self.status
        if new not in self.TRANSITIONS[old]:
            raise IllegalTransition(f"{self.NOUN} cannot go from {old} to {new}.")
        self.status = new
        for name, value in fields.items():
            setattr(self, name, value)
        if save:
            self.save(update_fields=["status", *fields])
        return old


# --------------------------------------------------------------------------- audit


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Append-only: the application never updates or deletes a row (and on PostgreSQL a trigger
    refuses it as well)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="Username or 'system' at the time.")
    action = models.CharField(max_length=64, db_index=True)
    case = models.ForeignKey(
        "Case", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="audit_events"
    )
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["case", "at"], name="audit_case_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")

    @classmethod
    def record(cls, action: str, *, actor=None, case=None, obj=None, summary: str = "", **data) -> AuditEvent:
        label = "system"
        if actor is not None and getattr(actor, "is_authenticated", False):
            label = actor.get_username()
        else:
            actor = None
        return cls.objects.create(
            action=action,
            actor=actor,
            actor_label=label,
            case=case,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            summary=summary[:500],
            data=data,
        )


# --------------------------------------------------------------------------- cases


class CaseQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status=Case.Status.RESOLVED)

    def for_queue(self):
        """Open cases in the owner's order of urgency, with what a queue row shows."""
        return (
            self.open()
            .select_related("order__customer", "product", "supplier", "assignee")
            .order_by("-risk_rank", "-promise_at_risk", models.F("customer_silent_since").asc(nulls_last=True), "id")
        )


class Case(models.Model):
    class Kind(models.TextChoices):
        STOCKOUT = "stockout", "Stockout"
        BACKORDER = "backorder", "Backorder"
        STALE_TRACKING = "stale_tracking", "Stale tracking"

    class Category(models.TextChoices):
        SUPPLIER_OUT_OF_STOCK = "supplier_out_of_stock", "Supplier out of stock"
        VARIANT_MISSING = "variant_missing", "Variant missing"
        RESTOCK_DELAY = "restock_delay", "Restock delay"
        DISCONTINUED = "discontinued", "Discontinued"
        BACKUP_CANDIDATE = "backup_candidate", "Backup supplier candidate"
        LOW_STOCK = "low_stock", "Low stock"
        LABEL_CREATED_ONLY = "label_created_only", "Label created only"
        ACCEPTED_NO_MOVEMENT = "accepted_no_movement", "Accepted, no movement"
        STALE_IN_TRANSIT = "stale_in_transit", "Stale in transit"
        CARRIER_EXCEPTION = "carrier_exception", "Carrier exception"
        DELIVERED_CONFLICT = "delivered_conflict", "Delivered, customer says not received"
        WRONG_TRACKING = "wrong_tracking", "Wrong tracking"
        EXPIRED_TRACKING = "expired_tracking", "No tracking data (expired)"
        SUPPLIER_SILENCE = "supplier_silence", "Supplier silence"
        UNCLEAR = "unclear", "Unclear"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        AWAITING_OWNER = "awaiting_owner", "Awaiting the owner"
        WAITING = "waiting", "Waiting (check date set)"
        ACTIONED = "actioned", "Actioned"
        RESOLVED = "resolved", "Resolved"

    class Risk(models.TextChoices):
        NORMAL_WATCH = "normal_watch", "Normal watch"
        SUPPLIER_CHASE = "supplier_chase", "Supplier chase"
        CUSTOMER_UPDATE = "customer_update", "Customer update"
        REFUND_RISK = "refund_risk", "Refund risk"
        OWNER_ONLY = "owner_only", "Owner-only"
        CHARGEBACK_WATCH = "chargeback_watch", "Chargeback watch"

    RISK_RANK = {
        Risk.NORMAL_WATCH: 10,
        Risk.SUPPLIER_CHASE: 20,
        Risk.CUSTOMER_UPDATE: 30,
        Risk.REFUND_RISK: 40,
        Risk.OWNER_ONLY: 50,
        Risk.CHARGEBACK_WATCH: 60,
    }

    TRANSITIONS: dict[str, set[str]] = {
        Status.OPEN: {Status.AWAITING_OWNER, Status.WAITING, Status.ACTIONED, Status.RESOLVED},
        Status.AWAITING_OWNER: {Status.OPEN, Status.WAITING, Status.ACTIONED, Status.RESOLVED},
        Status.WAITING: {Status.OPEN, Status.AWAITING_OWNER, Status.ACTIONED, Status.RESOLVED},
        Status.ACTIONED: {Status.OPEN, Status.AWAITING_OWNER, Status.WAITING, Status.RESOLVED},
        Status.RESOLVED: {Status.OPEN},
    }

    kind = models.CharField(max_length=16, choices=Kind.choices)
    category = models.CharField(max_length=32, choices=Category.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    risk_level = models.CharField(max_length=24, choices=Risk.choices, default=Risk.NORMAL_WATCH)
    risk_rank = models.PositiveSmallIntegerField(default=10, help_text="Sort key derived from risk_level.")
    dedupe_key = models.CharField(
        max_length=128, help_text="What the case is about, e.g. 'backorder:order:42'; one open case per key."
    )
    title = models.CharField(max_length=255)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_cases"
    )
    promise_at_risk = models.BooleanField(default=False, help_text="The promised ship date is near or gone.")
    customer_silent_since = models.DateTimeField(
        null=True, blank=True, help_text="When the customer last heard from us (or ordered, if never)."
    )
    recommended_action = models.CharField(max_length=24, blank=True)
    evidence_strength = models.CharField(max_length=16, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=255, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-risk_rank", "-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=~Q(status="resolved"), name="case_one_open_per_key"
            ),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False)
                | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                name="case_resolved_has_time",
            ),
            models.CheckConstraint(
                condition=Q(order__isnull=False)
                | Q(product__isnull=False)
                | Q(shipment__isnull=False)
                | Q(supplier__isnull=False),
                name="case_is_about_something",
            ),
        ]
        indexes = [
            models.Index(
                "status",
                models.F("risk_rank").desc(),
                models.F("promise_at_risk").desc(),
                "customer_silent_since",
                "id",
                name="case_queue_order",
            ),
            models.Index(fields=["kind", "category", "status"], name="case_kind_category"),
            # the queue itself: open cases only, already in the queue's order
            models.Index(
                models.F("risk_rank").desc(),
                models.F("promise_at_risk").desc(),
                "customer_silent_since",
                "id",
                condition=~Q(status="resolved"),
                name="case_open_queue_order",
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED

    def set_risk(self, risk: str) -> None:
        self.risk_level = risk
        self.risk_rank = self.RISK_RANK[risk]

    def set_status(self, new: str, *, actor=None, reason: str = "", save: bool = True) -> None:
        """Move the case along its status machine; raise on a move the table does not allow."""
        old = self.status
        if new == old:
            return
        if new not in self.TRANSITIONS.get(old, set()):
            raise IllegalTransition(f"A case cannot go from {old} to {new}.")
        with transaction.atomic():
            self.status = new
            if new == self.Status.RESOLVED:
                self.resolved_at = timezone.now()
                self.resolution = reason[:255]
            elif old == self.Status.RESOLVED:
                self.resolved_at = None
                self.resolution = ""
            if save:
                self.save(update_fields=["status", "resolved_at", "resolution", "updated_at"])
            AuditEvent.record(
                "case.status",
                actor=actor,
                case=self,
                obj=self,
                summary=f"{old} → {new}. {reason}".strip(),
                old=old,
                new=new,
            )

    @property
    def latest_packet(self) -> Packet | None:
        return self.packets.order_by("-version").first()


class Packet(models.Model):
    """An immutable, versioned snapshot of a case's evidence and recommendation."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="packets")
    version = models.PositiveIntegerField()
    policy = models.ForeignKey(StorePolicy, on_delete=models.PROTECT, related_name="packets")
    created_at = models.DateTimeField(default=timezone.now)
    content = models.JSONField(encoder=DjangoJSONEncoder)
    content_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the whole content, as an auditor checks it.")
    facts_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the facts without day-by-day counters: a new version is made when it changes.",
    )
    changes = models.JSONField(default=list, blank=True, help_text="What changed since the previous version.")
    recommendation = models.CharField(max_length=24)
    recommendation_reason = models.TextField(blank=True)
    evidence_strength = models.CharField(max_length=16)
    risk_level = models.CharField(max_length=24, choices=Case.Risk.choices)

    class Meta:
        ordering = ["case_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["case", "version"], name="packet_unique_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="packet_version_positive"),
        ]

    def __str__(self) -> str:
        return f"Packet v{self.version} of case {self.case_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("A packet is an immutable snapshot; make a new version instead.")
        if not self.content_sha256:
            self.content_sha256 = self.hash_content(self.content)
        super().save(*args, **kwargs)

    @staticmethod
    def hash_content(content: Any) -> str:
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
        return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- decisions and outcomes


class Decision(models.Model):
    class Action(models.TextChoices):
        WAIT = "wait", "Wait"
        SWITCH_SUPPLIER = "switch_supplier", "Switch supplier"
        OFFER_REPLACEMENT = "offer_replacement", "Offer replacement"
        CANCEL = "cancel", "Cancel"
        REFUND = "refund", "Refund"
        CHASE_SUPPLIER = "chase_supplier", "Chase supplier"
        PAUSE_PRODUCT = "pause_product", "Pause product"
        REQUEST_PROOF = "request_proof", "Request proof"
        MESSAGE_CUSTOMER = "message_customer", "Message customer"
        ESCALATE = "escalate", "Escalate"

    # Actions that move money or change what the customer receives: the owner's alone.
    OWNER_ONLY_ACTIONS = frozenset({Action.REFUND, Action.CANCEL, Action.SWITCH_SUPPLIER, Action.OFFER_REPLACEMENT})

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed (awaiting the owner)"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="decisions")
    packet = models.ForeignKey(
        Packet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decisions",
        help_text="The version decided on.",
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    note = models.TextField(blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions_made")
    decided_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions_approved"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="approved") | (Q(approved_by__isnull=False) & Q(approved_at__isnull=False)),
                name="decision_approved_has_approver",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="decision_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(action="wait") | Q(next_check_at__isnull=False), name="decision_wait_has_check_date"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.status}) on case {self.case_id}"


class Outcome(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER_UPDATED = "customer_updated", "Customer updated"
        SUPPLIER_CHASED = "supplier_chased", "Supplier chased"
        PRODUCT_PAUSED = "product_paused", "Product paused"
        REPLACEMENT_REVIEWED = "replacement_reviewed", "Replacement reviewed"
        CANCELLATION_APPROVED = "cancellation_approved", "Cancellation approved"
        REFUND_ESCALATED = "refund_escalated", "Refund escalated"
        OTHER = "other", "Other"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="outcomes")
    decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="outcomes")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on case {self.case_id}"


# --------------------------------------------------------------------------- messages


class Message(StatusMachine, models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        SLACK = "slack", "Slack"

    class Audience(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        SUPPLIER = "supplier", "Supplier"
        STAFF = "staff", "Staff"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    NOUN = "A message"
    TRANSITIONS: dict[str, set[str]] = {
        Status.DRAFT: {Status.APPROVED, Status.CANCELLED},
        Status.APPROVED: {Status.QUEUED, Status.CANCELLED},
        Status.QUEUED: {Status.SENDING, Status.CANCELLED},
        Status.SENDING: {Status.SENT, Status.FAILED, Status.QUEUED},
        Status.FAILED: {Status.QUEUED, Status.CANCELLED},
        Status.SENT: set(),
        Status.CANCELLED: set(),
    }

    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    order_line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.CUSTOMER)
    step = models.CharField(max_length=32, blank=True, help_text="The cadence step that drafted it, if any.")
    eta_told = models.CharField(
        max_length=32,
        blank=True,
        help_text="The ship range the message tells ('2026-03-02..2026-03-09'), 'unknown', or empty if none.",
    )
    to = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    idempotency_key = models.CharField(max_length=128, unique=True)
    guideline_issues = models.JSONField(default=list, blank=True, help_text="Policy guidelines the draft breaks.")
    needs_owner = models.BooleanField(default=False, help_text="VIP, high value or conflicting evidence.")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages_approved"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    standing_approval = models.BooleanField(default=False, help_text="Approved by a standing approval in the policy.")
    queued_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    possible_duplicate = models.BooleanField(
        default=False, help_text="A send may have happened twice (worker lost mid-send); shown on the case."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "cancelled"]) | Q(approved_at__isnull=False),
                name="message_sent_only_after_approval",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="message_sent_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="message_status_next_attempt"),
            models.Index(fields=["case", "status"], name="message_case_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.to} ({self.status})"

    def set_status(self, new: str, *, actor=None, reason: str = "", save: bool = True, **fields) -> None:
        with transaction.atomic():
            old = self._move(new, fields, save=save)
            AuditEvent.record(
                f"message.{new}", actor=actor, case=self.case, obj=self, summary=reason or f"{old} → {new}", old=old
            )


class InboundMessage(models.Model):
    """What a customer wrote to the store, with the risk read from their words."""

    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages")
    channel = models.CharField(max_length=8, choices=Message.Channel.choices, default=Message.Channel.EMAIL)
    from_address = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)
    sentiment = models.FloatField(null=True, blank=True, help_text="VADER compound score, -1 to 1.")
    intents = models.JSONField(default=list, blank=True)
    escalated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sentiment__isnull=True) | (Q(sentiment__gte=-1) & Q(sentiment__lte=1)),
                name="inbound_sentiment_in_range",
            )
        ]

    def __str__(self) -> str:
        return f"From {self.from_address or self.customer} at {self.received_at:%Y-%m-%d}"


# --------------------------------------------------------------------------- operations


class WorkerHeartbeat(models.Model):
    """Written by a scheduled task every minute: proof that some worker cluster is running."""

    name = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"


# --------------------------------------------------------------------------- exports


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


# --------------------------------------------------------------------------- acting on the store


class StoreActionQuerySet(models.QuerySet):
    def for_panel(self):
        return self.select_related("decision", "approved_by").order_by("created_at", "id")


class StoreAction(StatusMachine, models.Model):
    """One call to the store's admin API that an approved decision asked for.

    The row is the outbox: it is written in the approving transaction and run by the worker after
    commit (``packets.store_actions.runner.run_store_action``). ``request`` holds the exact call,
    ``response`` the platform's answer, ``error`` the platform's own message. The idempotency key
    is made once per action and reused only when the same call is retried; an outcome that is not
    known (a timeout after sending) becomes ``needs_check`` and the store is read back before any
    new call.
    """

    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"

    class Kind(models.TextChoices):
        CANCEL = "cancel", "Cancel the order"
        REFUND = "refund", "Refund"
        HOLD = "hold", "Hold fulfilment"
        RELEASE_HOLD = "release_hold", "Release our fulfilment hold"
        TAG = "tag", "Tag the order"

    # Money moves and irreversible changes: an owner's approval, never a standing one.
    OWNER_ONLY_KINDS = frozenset({Kind.CANCEL, Kind.REFUND})

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to run"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        NEEDS_CHECK = "needs_check", "Outcome unknown: the store is read back before any new call"

    NOUN = "A store action"
    TRANSITIONS: dict[str, set[str]] = {
        Status.PENDING: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.SUCCEEDED, Status.FAILED, Status.NEEDS_CHECK, Status.PENDING},
        Status.NEEDS_CHECK: {Status.RUNNING, Status.FAILED},
        Status.FAILED: {Status.PENDING},
        Status.SUCCEEDED: set(),
    }

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="store_actions")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="store_actions")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="store_actions")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    plan = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="What was approved, in our terms.")
    request = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="The exact call sent.")
    response = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="The store's answer.")
    error = models.TextField(blank=True, help_text="The platform's own message when it refused or failed.")
    idempotency_key = models.CharField(max_length=100, unique=True)
    previous_keys = models.JSONField(default=list, blank=True, help_text="Keys of earlier, finished attempts.")
    external_ref = models.CharField(max_length=255, blank=True, help_text="The store's id: refund, hold or job.")
    gateway_cannot_refund = models.BooleanField(
        default=False, help_text="The payment gateway cannot refund automatically (WooCommerce)."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="store_actions"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StoreActionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "kind"], name="store_action_one_per_decision_kind"),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="store_action_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status="running") | Q(started_at__isnull=False), name="store_action_running_has_start"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="store_action_status_next")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.get_platform_display()} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

    def set_status(self, new: str, *, actor=None, reason: str = "", **fields) -> None:
        with transaction.atomic():
            old = self._move(new, fields)
            AuditEvent.record(
                f"store_action.{new}",
                actor=actor,
                case=self.case,
                obj=self,
                summary=reason or f"{self.get_kind_display()}: {old} → {new}",
                old=old,
                kind=self.kind,
                platform=self.platform,
                error=self.error[:1000],
            )


# --------------------------------------------------------------------------- outbound events


def new_webhook_secret() -> str:
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class OutboundSubscription(models.Model):
    """An automation tool's endpoint (Zapier, Make, n8n...) that receives signed event deliveries."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=255, blank=True)
    secret = models.CharField(
        max_length=100, default=new_webhook_secret, help_text="whsec_...: the receiver verifies signatures with it."
    )
    event_types = models.JSONField(default=list, blank=True, help_text="Event types to send; empty sends them all.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["url", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"),  # noqa: S106 (a prefix, not a secret)
                name="outbound_secret_prefixed",
            ),
        ]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return self.active and (not self.event_types or event_type in self.event_types)


class OutboundDelivery(models.Model):
    """One event for one subscription, with every attempt's result; the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to send"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Gave up"

    subscription = models.ForeignKey(OutboundSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64, help_text="The webhook-id header: the same on every attempt.")
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text="The body sent, as JSON.")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "outbound deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="outbound_one_delivery_per_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbound_status_next")]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscription_id} ({self.status})"
