"""The supply side: where stock comes from, what suppliers said, and when it really arrived."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from backorders.models import Product


class Supplier(models.Model):
    name = models.CharField(max_length=255, unique=True)
    code = models.SlugField(max_length=32, unique=True)
    email = models.EmailField(blank=True)
    portal_url = models.URLField(
        blank=True, help_text="Where the supplier takes purchase orders online, when it does not take them by email."
    )
    contact_name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=2, blank=True)
    transit_days = models.PositiveSmallIntegerField(default=3, help_text="Business days from their dock to ours.")
    silence_business_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Overrides the policy's supplier silence window."
    )
    active = models.BooleanField(default=True)
    deprioritised = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SupplierSource(models.Model):
    """A supplier that can supply a product: its cost, lead time and standing."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "Primary"
        BACKUP = "backup", "Backup"

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="sources", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="sources")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.PRIMARY)
    supplier_sku = models.CharField(max_length=128, blank=True)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2)
    lead_time_days = models.PositiveSmallIntegerField(default=7, help_text="Business days the supplier quotes.")
    quality_notes = models.TextField(blank=True)
    replacement_needs_consent = models.BooleanField(
        default=False, help_text="Goods from this source differ enough that the customer must agree."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product_id", "role", "supplier_id"]
        constraints = [
            models.UniqueConstraint(fields=["supplier", "product"], name="source_unique_supplier_product"),
            models.UniqueConstraint(
                fields=["product"], condition=Q(role="primary") & Q(active=True), name="source_one_primary_per_product"
            ),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="source_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier} → {self.product.sku} ({self.role})"


class SupplierUpdate(models.Model):
    """Evidence from a supplier: what they said, when, and how far it can be trusted."""

    class Kind(models.TextChoices):
        STOCK_STATUS = "stock_status", "Stock status"
        RESTOCK_ESTIMATE = "restock_estimate", "Restock estimate"
        DISPATCH_CLAIM = "dispatch_claim", "Dispatch claim"
        PICKUP_PROOF = "pickup_proof", "Pickup proof"
        SILENCE = "silence", "No answer"

    class StockStatus(models.TextChoices):
        IN_STOCK = "in_stock", "In stock"
        OUT_OF_STOCK = "out_of_stock", "Out of stock"
        DISCONTINUED = "discontinued", "Discontinued"
        VARIANT_MISSING = "variant_missing", "Variant missing"
        UNKNOWN = "unknown", "Unknown"

    class Strength(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        WEAK = "weak", "Weak"
        CONFLICTING = "conflicting", "Conflicting"

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="updates", db_index=False)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.CASCADE, related_name="supplier_updates"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    stock_status = models.CharField(max_length=24, choices=StockStatus.choices, default=StockStatus.UNKNOWN)
    restock_from = models.DateField(null=True, blank=True)
    restock_to = models.DateField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    tracking_number = models.CharField(max_length=128, blank=True)
    strength = models.CharField(max_length=16, choices=Strength.choices, default=Strength.WEAK)
    strength_reason = models.CharField(max_length=255, blank=True)
    conflicts_with = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="conflicted_by"
    )
    dates_found = models.JSONField(default=list, blank=True)
    source_text = models.TextField(blank=True, help_text="The supplier's words, pasted as received.")
    received_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(restock_from__isnull=True)
                | Q(restock_to__isnull=True)
                | Q(restock_to__gte=F("restock_from")),
                name="update_restock_range_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(strength="conflicting") | Q(conflicts_with__isnull=False),
                name="update_conflict_names_other",
            ),
        ]
        indexes = [models.Index(fields=["supplier", "product", "-received_at"], name="update_latest")]

    def __str__(self) -> str:
        return f"{self.supplier}: {self.get_kind_display()} ({self.strength})"


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed (awaiting the owner)"
        APPROVED = "approved", "Approved"
        SENT = "sent", "Sent to supplier"
        PARTIAL = "partial", "Partly received"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    class SentVia(models.TextChoices):
        NONE = "", "Not sent"
        EMAIL = "email", "Email with the PDF"
        PORTAL = "portal", "The supplier's portal"

    # The allowed moves; the verbs that make them (with their audit rows) live in packets.
    TRANSITIONS: dict[str, set[str]] = {
        Status.PROPOSED: {Status.APPROVED, Status.CANCELLED},
        Status.APPROVED: {Status.SENT, Status.CANCELLED},
        Status.SENT: {Status.PARTIAL, Status.RECEIVED, Status.CANCELLED},
        Status.PARTIAL: {Status.RECEIVED, Status.CANCELLED},
        Status.RECEIVED: set(),
        Status.CANCELLED: set(),
    }

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders", db_index=False)
    reference = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENT)
    ordered_at = models.DateTimeField(default=timezone.now)
    quoted_at = models.DateField(null=True, blank=True, help_text="The arrival date the supplier quoted.")
    received_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    notes = models.TextField(blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="purchase_orders_approved",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_via = models.CharField(max_length=8, choices=SentVia.choices, blank=True, default=SentVia.NONE)
    sent_to = models.CharField(max_length=255, blank=True, help_text="The address or portal it went to.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When it left us (the email was sent).")
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When the supplier confirmed it.")
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="purchase_orders_confirmed",
        help_text="Who recorded the confirmation; empty when the supplier's email was read.",
    )
    confirmation_text = models.TextField(blank=True, help_text="The supplier's words confirming it.")

    class Meta:
        ordering = ["-ordered_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(received_at__isnull=True) | Q(received_at__gte=F("ordered_at")),
                name="po_received_after_ordered",
            ),
            models.UniqueConstraint(
                fields=["supplier"], condition=Q(status="proposed"), name="po_one_proposal_per_supplier"
            ),
        ]
        indexes = [models.Index(fields=["supplier", "ordered_at"], name="po_supplier_ordered")]

    def __str__(self) -> str:
        return self.reference

    def can_move_to(self, new: str) -> bool:
        return new in self.TRANSITIONS.get(self.status, set())


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="purchase_order_lines")
    quantity = models.PositiveIntegerField()
    received_quantity = models.PositiveIntegerField(default=0)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="po_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(received_quantity__lte=F("quantity")), name="po_line_received_within_quantity"
            ),
            models.UniqueConstraint(fields=["purchase_order", "product"], name="po_line_unique_product"),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_order} · {self.quantity} × {self.product.sku}"
