"""Cases, their packets, the owner's decisions and the outcomes recorded."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from backorders.models import Order, Product, Shipment, StorePolicy
from suppliers.models import Supplier

from .audit import AuditEvent
from .base import IllegalTransition


class CaseQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status=Case.Status.RESOLVED)

    def copy_order_facts(self) -> int:
        """Give these cases their order's value and promise, the copies the queue's rank reads
        (the sweep keeps them after; this is for cases written without it, as the scale seed's)."""
        order = Order.objects.filter(pk=OuterRef("order_id"))
        return self.filter(order__isnull=False).update(
            order_total=Subquery(order.values("total")[:1]),
            order_promised_ship_by=Subquery(order.values("promised_ship_by")[:1]),
        )

    def for_queue(self):
        """Open cases in the owner's order of urgency, with what a queue row shows."""
        return (
            self.open()
            .select_related("order__customer", "product", "supplier", "assignee")
            .order_by(
                "-reply_overdue",
                "-risk_rank",
                "-promise_at_risk",
                models.F("customer_silent_since").asc(nulls_last=True),
                "id",
            )
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
    # What the queue's rank reads of the order, kept on the case by the sweep (as the other queue
    # fields are), so ranking a page reads one table rather than joining every case to its order.
    order_total = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The order's value, as the sweep last read it.",
    )
    order_promised_ship_by = models.DateField(
        null=True, blank=True, help_text="The order's promised ship-by date, as the sweep last read it."
    )
    reply_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer who wrote must have a person's answer; empty: nobody waits."
    )
    reply_overdue = models.BooleanField(default=False, help_text="The reply deadline passed unanswered (escalated).")
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
            # the queue itself: open cases only, already in the queue's order (overdue replies first)
            models.Index(
                models.F("reply_overdue").desc(),
                models.F("risk_rank").desc(),
                models.F("promise_at_risk").desc(),
                "customer_silent_since",
                "id",
                condition=~Q(status="resolved"),
                name="case_open_queue_overdue_first",
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

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="packets", db_index=False)
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

    # The canonical text a packet's hashes are taken of: keys sorted, no spaces, Django's encoder
    # (one instance, reused). ``packets.packet.PacketText`` joins sections encoded by it too.
    canonical = staticmethod(DjangoJSONEncoder(sort_keys=True, separators=(",", ":")).encode)

    @staticmethod
    def hash_content(content: Any) -> str:
        return hashlib.sha256(Packet.canonical(content).encode()).hexdigest()


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
