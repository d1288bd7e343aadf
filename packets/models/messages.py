"""What reached customers, suppliers and staff, and what customers wrote back."""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from backorders.models import Customer, Order, OrderLine
from suppliers.models import Supplier

from .audit import AuditEvent
from .base import StatusMachine
from .cases import Case


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

    class Delivery(models.TextChoices):
        """What the email provider later reported (its delivery webhooks); empty until it does."""

        UNKNOWN = "", "Not reported"
        DELIVERED = "delivered", "Delivered"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Marked as spam"

    # Cases whose customer messages only the owner approves, whoever drafted them.
    OWNER_RISKS = frozenset({Case.Risk.OWNER_ONLY, Case.Risk.CHARGEBACK_WATCH})

    # A report only ever moves a message up this scale: a late "delivered" never hides a bounce.
    DELIVERY_RANK = {Delivery.UNKNOWN: 0, Delivery.DELIVERED: 1, Delivery.BOUNCED: 2, Delivery.COMPLAINED: 3}

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

    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
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
    machine_drafted = models.BooleanField(
        default=False, help_text="Written by the drafting model (LLM_MODEL), for a person to check and approve."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages_approved"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    standing_approval = models.BooleanField(default=False, help_text="Approved by a standing approval in the policy.")
    queued_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(
        max_length=255, blank=True, help_text="The provider's id for it (the email provider's message id)."
    )
    email_message_id = models.CharField(
        max_length=255, blank=True, help_text="The Message-ID header it went out with (a reply names it)."
    )
    delivery = models.CharField(max_length=16, choices=Delivery.choices, blank=True, default=Delivery.UNKNOWN)
    delivery_detail = models.CharField(max_length=500, blank=True, help_text="The provider's words on it.")
    delivery_at = models.DateTimeField(null=True, blank=True)
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
            models.Index(fields=["provider_id"], name="message_provider_id", condition=~Q(provider_id="")),
            models.Index(
                fields=["email_message_id"], name="message_email_message_id", condition=~Q(email_message_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.to} ({self.status})"

    @property
    def owner_reason(self) -> str:
        """Why only the owner may approve this message; empty when staff may."""
        if self.audience == self.Audience.CUSTOMER and self.case_id and self.case.risk_level in self.OWNER_RISKS:
            return f"the case is {self.case.get_risk_level_display().lower()}: only the owner approves its messages"
        if self.needs_owner:
            return "VIP, high value or conflicting evidence: only the owner approves it"
        return ""

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
