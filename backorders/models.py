"""The store side: what was sold, what is on hand, what was shipped, and the owner's rules.

Invariants that money and stock depend on live in the database as CHECK and UNIQUE
constraints, so a write that breaks them fails whatever code path it came from.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

ZERO = Decimal("0.00")


class Channel(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    CSV = "csv", "CSV import"
    MANUAL = "manual", "Manual"
    GENERIC = "generic", "Generic API"


# --------------------------------------------------------------------------- catalog and stock


class ProductQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Product.Status.ACTIVE)

    def short(self):
        """Products with fewer free units than zero would need: demand waits on them."""
        return self.filter(on_hand__lte=F("allocated"))


class Product(models.Model):
    """One sellable SKU (a variant, where the channel has variants)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DISCONTINUED = "discontinued", "Discontinued"

    class BackorderMode(models.TextChoices):
        DENY = "deny", "Deny sales when out of stock"
        BACKORDER = "backorder", "Allow backorders"
        PREORDER = "preorder", "Pre-order"

    sku = models.CharField(max_length=128, unique=True)
    title = models.CharField(max_length=255)
    variant_title = models.CharField(max_length=255, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    backorder_mode = models.CharField(max_length=16, choices=BackorderMode.choices, default=BackorderMode.BACKORDER)
    on_hand = models.IntegerField(default=0, help_text="Physical units in the warehouse.")
    allocated = models.IntegerField(default=0, help_text="Units reserved for order lines, not yet shipped.")
    on_order = models.IntegerField(default=0, help_text="Units on open purchase orders.")
    created_from_unknown_sku = models.BooleanField(
        default=False, help_text="Made by intake for an order that named a SKU the catalog did not have."
    )
    # Channel identifiers are kept as text: Shopify ids pass 2**53 and must never go through a float.
    shopify_product_id = models.CharField(max_length=32, blank=True, db_index=True)
    shopify_variant_id = models.CharField(max_length=32, blank=True)
    shopify_inventory_item_id = models.CharField(max_length=32, blank=True)
    woocommerce_id = models.CharField(max_length=32, blank=True, db_index=True)
    product_page_wording = models.TextField(blank=True, help_text="Availability text the shop shows today.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="product_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(allocated__gte=0), name="product_allocated_not_negative"),
            models.CheckConstraint(condition=Q(allocated__lte=F("on_hand")), name="product_allocated_within_on_hand"),
            models.CheckConstraint(condition=Q(on_order__gte=0), name="product_on_order_not_negative"),
            models.CheckConstraint(condition=Q(price__gte=0) & Q(cost__gte=0), name="product_money_not_negative"),
            models.UniqueConstraint(
                fields=["shopify_variant_id"],
                condition=~Q(shopify_variant_id=""),
                name="product_unique_shopify_variant",
            ),
            models.UniqueConstraint(
                fields=["shopify_inventory_item_id"],
                condition=~Q(shopify_inventory_item_id=""),
                name="product_unique_shopify_inventory_item",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.display_title}"

    @property
    def display_title(self) -> str:
        return f"{self.title} ({self.variant_title})" if self.variant_title else self.title

    @property
    def available(self) -> int:
        """Units on hand that no order line has claimed yet."""
        return self.on_hand - self.allocated

    @property
    def margin(self) -> Decimal:
        return self.price - self.cost


# --------------------------------------------------------------------------- customers and orders


class Customer(models.Model):
    class ContactChannel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    email = models.EmailField(blank=True)
    name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    preferred_channel = models.CharField(max_length=8, choices=ContactChannel.choices, default=ContactChannel.EMAIL)
    sms_opt_in = models.BooleanField(default=False)
    orders_count = models.PositiveIntegerField(default=0, help_text="Orders placed before, as the channel reports.")
    shopify_id = models.CharField(max_length=32, blank=True)
    woocommerce_id = models.CharField(max_length=32, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "email"]
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("email"), condition=~Q(email=""), name="customer_unique_email_ci"
            ),
            models.CheckConstraint(
                condition=Q(sms_opt_in=False) | ~Q(phone=""), name="customer_sms_opt_in_needs_phone"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.email or f"Customer {self.pk}"

    def is_vip(self, policy: StorePolicy) -> bool:
        return self.orders_count >= policy.vip_min_orders


class OrderQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=Order.Status.OPEN)


class Order(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELLED = "cancelled", "Cancelled"
        CLOSED = "closed", "Closed"

    class PaymentState(models.TextChoices):
        PENDING = "pending", "Pending"
        AUTHORIZED = "authorized", "Authorized"
        PAID = "paid", "Paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        VOIDED = "voided", "Voided"

    class PartialShipment(models.TextChoices):
        SHIP_AVAILABLE = "ship_available", "Ship what is available now"
        HOLD = "hold", "Hold the order until complete"

    channel = models.CharField(max_length=16, choices=Channel.choices)
    external_id = models.CharField(max_length=64, help_text="The order's id on its channel.")
    number = models.CharField(max_length=64, help_text="The number the customer sees, such as #1042.")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    placed_at = models.DateTimeField()
    currency = models.CharField(max_length=3, default="USD")
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    payment_state = models.CharField(max_length=24, choices=PaymentState.choices, default=PaymentState.PAID)
    shipping_method = models.CharField(max_length=128, blank=True)
    express = models.BooleanField(default=False)
    priority_class = models.CharField(
        max_length=32, blank=True, help_text="Allocation priority class, such as contract; empty for the default."
    )
    partial_shipment = models.CharField(
        max_length=16,
        choices=PartialShipment.choices,
        blank=True,
        help_text="Overrides the store default for this order; empty follows the policy.",
    )
    promised_ship_by = models.DateField(null=True, blank=True, help_text="The ship-by date shown at checkout.")
    promise_text = models.CharField(max_length=255, blank=True, help_text="The shipping promise shown at checkout.")
    shipping_name = models.CharField(max_length=255, blank=True)
    shipping_city = models.CharField(max_length=128, blank=True)
    shipping_region = models.CharField(max_length=64, blank=True)
    shipping_postal_code = models.CharField(max_length=32, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    channel_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The channel's updated_at of the version we hold; older deliveries are ignored.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="order_unique_external_id_per_channel"),
            models.CheckConstraint(condition=Q(subtotal__gte=0) & Q(total__gte=0), name="order_money_not_negative"),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(cancelled_at__isnull=False), name="order_cancelled_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "placed_at"], name="order_status_placed"),
            models.Index(fields=["number"], name="order_number"),  # search, and CSV imports matching by number
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_international(self) -> bool:
        home = getattr(settings, "STORE_COUNTRY", "US")
        return bool(self.shipping_country) and self.shipping_country.upper() != home


class OrderLineQuerySet(models.QuerySet):
    def waiting(self):
        """Lines that still need units: open, not cancelled, not fully allocated."""
        return self.filter(
            order__status=Order.Status.OPEN,
            state__in=[OrderLine.State.BACKORDERED, OrderLine.State.PENDING, OrderLine.State.PARTIAL],
            allocated__lt=F("quantity"),
        )


class OrderLine(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ALLOCATED = "allocated", "Allocated"
        PARTIAL = "partial", "Partly allocated"
        BACKORDERED = "backordered", "Backordered"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    external_id = models.CharField(max_length=64, blank=True)
    sku = models.CharField(max_length=128, blank=True, help_text="The SKU as the channel sent it.")
    title = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField()
    allocated = models.PositiveIntegerField(default=0)
    shipped = models.PositiveIntegerField(default=0)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    backordered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    allocated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the line last became fully allocated (restock notices look here)."
    )

    objects = OrderLineQuerySet.as_manager()

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(allocated__gte=0) & Q(allocated__lte=F("quantity")), name="line_allocated_within_quantity"
            ),
            models.CheckConstraint(
                condition=Q(shipped__gte=0) & Q(shipped__lte=F("allocated")), name="line_shipped_within_allocated"
            ),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="line_price_not_negative"),
            models.UniqueConstraint(
                fields=["order", "external_id"], condition=~Q(external_id=""), name="line_unique_external_id_per_order"
            ),
        ]
        indexes = [
            models.Index(fields=["product", "state"], name="line_product_state"),
            models.Index(fields=["state", "backordered_at"], name="line_state_backordered"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} · {self.quantity} × {self.sku or self.product.sku}"

    @property
    def short(self) -> int:
        """Units still missing. ``allocated`` covers shipped units too (shipped <= allocated)."""
        return 0 if self.state == self.State.CANCELLED else self.quantity - self.allocated

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


# --------------------------------------------------------------------------- fulfilment facts


class TrackingStatus(models.TextChoices):
    """One vocabulary for every carrier and tracking provider."""

    LABEL_CREATED = "label_created", "Label created / info received"
    ACCEPTED = "accepted", "Accepted by carrier"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    ATTEMPTED = "attempted", "Delivery attempted"
    AVAILABLE_FOR_PICKUP = "available_for_pickup", "Available for pickup"
    EXCEPTION = "exception", "Exception"
    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned to sender"
    EXPIRED = "expired", "Expired (no tracking data)"
    UNKNOWN = "unknown", "Unknown"


class Shipment(models.Model):
    class ShippedBy(models.TextChoices):
        STORE = "store", "Store warehouse"
        SUPPLIER = "supplier", "Supplier (drop-ship)"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=128)
    tracking_url = models.URLField(max_length=500, blank=True)
    shipped_by = models.CharField(max_length=16, choices=ShippedBy.choices, default=ShippedBy.STORE)
    supplier_name = models.CharField(max_length=255, blank=True, help_text="Who shipped it, for drop-shipments.")
    external_id = models.CharField(max_length=64, blank=True, help_text="The fulfillment's id on the channel.")
    status = models.CharField(max_length=24, choices=TrackingStatus.choices, default=TrackingStatus.LABEL_CREATED)
    raw_status = models.CharField(max_length=64, blank=True)
    label_created_at = models.DateTimeField(default=timezone.now)
    first_scan_at = models.DateTimeField(null=True, blank=True)
    last_scan_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    destination_country = models.CharField(max_length=2, blank=True)
    destination_postal_code = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-label_created_at"]
        constraints = [
            models.UniqueConstraint(fields=["order", "tracking_number"], name="shipment_unique_tracking_per_order"),
            models.CheckConstraint(condition=~Q(tracking_number=""), name="shipment_tracking_number_present"),
            models.CheckConstraint(
                condition=Q(first_scan_at__isnull=True) | Q(last_scan_at__gte=F("first_scan_at")),
                name="shipment_scans_in_order",
            ),
        ]
        indexes = [
            models.Index(fields=["tracking_number"], name="shipment_tracking_number"),
            models.Index(fields=["status", "last_scan_at"], name="shipment_status_last_scan"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier or 'carrier?'} {self.tracking_number}"


class TrackingEvent(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=24, choices=TrackingStatus.choices)
    raw_status = models.CharField(max_length=64, blank=True, help_text="The carrier's or provider's own status.")
    raw_substatus = models.CharField(max_length=128, blank=True)
    message = models.CharField(max_length=500, blank=True)
    location = models.CharField(max_length=255, blank=True)
    country = models.CharField(max_length=2, blank=True)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=32, blank=True, help_text="aftership, easypost, shippo, shopify, csv...")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "occurred_at", "raw_status", "location"], name="tracking_event_unique_scan"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


# --------------------------------------------------------------------------- the owner's rules


def default_cadence() -> list[dict]:
    return [
        {"key": "confirmation", "after_hours": 0, "label": "Backorder confirmation"},
        {"key": "update_48h", "after_hours": 48, "label": "48-hour update"},
        {"key": "update_day7", "after_hours": 168, "label": "Day 7 update"},
        {
            "key": "update_day14",
            "after_hours": 336,
            "label": "Day 14 update, offers cancellation",
            "offer_cancel": True,
        },
    ]


def default_forbidden_phrases() -> list[str]:
    return [
        "we apologize for the inconvenience",
        "guaranteed",
        "will definitely",
        "ships tomorrow",
        "in stock soon",
    ]


def default_allowed_wording() -> list[str]:
    return [
        "We expect it to ship between {start} and {end}.",
        "Our supplier has not confirmed a date yet; we will write again by {next_update}.",
        "You can cancel at no cost at any time before it ships.",
    ]


def default_priority_classes() -> list[str]:
    return ["vip", "contract", "express", "standard"]


class StorePolicyQuerySet(models.QuerySet):
    def current(self) -> StorePolicy:
        policy = self.order_by("-version").first()
        if policy is None:
            # two processes may both find none: get_or_create turns the loser's IntegrityError into a read
            policy, _ = StorePolicy.objects.get_or_create(version=1, defaults={"note": "Defaults"})
        return policy


class StorePolicy(models.Model):
    """The owner's written rules. Versions are never edited: a change makes a new version, and a
    packet records the version it was built with, so an audit can quote the rule that applied."""

    class RefundMethod(models.TextChoices):
        ORIGINAL = "original", "Original payment method"
        STORE_CREDIT = "store_credit", "Store credit"

    version = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=255, blank=True)

    # stock thresholds, in available units (on hand minus allocated)
    stock_watch_at = models.IntegerField(default=5, help_text="Watch a product at or below this many free units.")
    stock_urgent_at = models.IntegerField(default=2, help_text="Urgent at or below this many free units.")
    stock_paused_at = models.IntegerField(default=0, help_text="Suggest pausing sales at or below this many.")
    owner_only_waiting_units = models.PositiveIntegerField(
        default=20, help_text="A product with this many units waiting is the owner's call alone."
    )

    # tracking clocks, in business days unless named otherwise
    no_pickup_business_days = models.PositiveSmallIntegerField(default=4)
    no_scan_domestic_business_days = models.PositiveSmallIntegerField(default=3)
    no_scan_international_business_days = models.PositiveSmallIntegerField(default=5)
    expired_after_days = models.PositiveSmallIntegerField(default=30, help_text="Calendar days with no tracking data.")
    supplier_silence_business_days = models.PositiveSmallIntegerField(default=3)
    business_days = models.JSONField(default=list, blank=True, help_text="Weekday numbers, Monday=0; empty = Mon–Fri.")
    holidays = models.JSONField(default=list, blank=True, help_text="ISO dates that are not business days.")

    # customer messages
    cadence = models.JSONField(default=default_cadence)
    standing_approvals = models.JSONField(
        default=list, blank=True, help_text="Cadence step keys the owner approved in advance (when evidence agrees)."
    )
    forbidden_phrases = models.JSONField(default=default_forbidden_phrases)
    allowed_wording = models.JSONField(default=default_allowed_wording)
    email_word_limit = models.PositiveSmallIntegerField(default=150)
    sms_word_limit = models.PositiveSmallIntegerField(default=50)

    # money and escalation
    money_boundary = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("150.00"), help_text="Above this, the owner decides."
    )
    replacement_boundary = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("15.00"),
        help_text="A replacement costing more than this above the original needs the owner.",
    )
    high_value_order = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("250.00"))
    vip_min_orders = models.PositiveSmallIntegerField(default=3)
    escalate_negative_sentiment = models.BooleanField(default=True)
    escalate_below_sentiment = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("-0.50"), help_text="VADER compound score."
    )
    refund_method = models.CharField(max_length=16, choices=RefundMethod.choices, default=RefundMethod.ORIGINAL)

    # allocation
    partial_shipment_default = models.CharField(
        max_length=16, choices=Order.PartialShipment.choices, default=Order.PartialShipment.SHIP_AVAILABLE
    )
    priority_classes = models.JSONField(default=default_priority_classes)
    auto_apply_allocation = models.BooleanField(
        default=True, help_text="When supply covers every waiting line, allocate without asking."
    )
    eta_coverage = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.90"))

    objects = StorePolicyQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "store policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(stock_paused_at__lte=F("stock_urgent_at")) & Q(stock_urgent_at__lte=F("stock_watch_at")),
                name="policy_thresholds_ordered",
            ),
            models.CheckConstraint(
                condition=Q(eta_coverage__gt=0) & Q(eta_coverage__lt=1), name="policy_eta_coverage_fraction"
            ),
            models.CheckConstraint(condition=Q(money_boundary__gte=0), name="policy_money_boundary_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Policy v{self.version}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("A StorePolicy version is never edited; call revise() to make a new version.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Policy versions are kept for audits and cannot be deleted.")

    @transaction.atomic
    def revise(self, *, user=None, note: str = "", **changes) -> StorePolicy:
        """Make the next version with ``changes`` applied; this version stays as it was."""
        latest = StorePolicy.objects.select_for_update().order_by("-version").first()
        new = StorePolicy.objects.get(pk=self.pk)
        new.pk = None
        new._state.adding = True  # a fresh row: save() refuses to edit a stored version
        new.version = latest.version + 1
        new.created_at = timezone.now()
        new.created_by = user
        new.note = note
        for name, value in changes.items():
            if not hasattr(new, name) or name in {"id", "version"}:
                raise ValueError(f"StorePolicy has no editable field {name!r}")
            setattr(new, name, value)
        new.full_clean()
        new.save()
        return new

    @property
    def working_weekdays(self) -> list[int]:
        return list(self.business_days) or [0, 1, 2, 3, 4]

    def rule_text(self) -> dict[str, str]:
        """The rules in words, as a packet quotes them."""
        return {
            "stock": (
                f"Watch at {self.stock_watch_at} free units or fewer, urgent at {self.stock_urgent_at}, "
                f"suggest a pause at {self.stock_paused_at}; {self.owner_only_waiting_units}+ units waiting "
                f"is the owner's call."
            ),
            "tracking": (
                f"No carrier pickup after {self.no_pickup_business_days} business days; no scan for "
                f"{self.no_scan_domestic_business_days} business days domestic or "
                f"{self.no_scan_international_business_days} international; no tracking data for "
                f"{self.expired_after_days} days is expired."
            ),
            "supplier": f"A supplier silent for {self.supplier_silence_business_days} business days is chased.",
            "money": (
                f"Refunds, cancellations, supplier switches, replacements and anything over "
                f"{self.money_boundary} need the owner; replacements up to {self.replacement_boundary} above the "
                f"original price are routine."
            ),
            "customers": (
                f"VIP from {self.vip_min_orders} previous orders; orders over {self.high_value_order} are "
                f"high value; messages stay under {self.email_word_limit} words by email and "
                f"{self.sms_word_limit} by SMS and give date ranges, never exact dates."
            ),
            "allocation": (
                f"Restocked units go first-in first-out within the classes {', '.join(self.priority_classes)}; "
                f"partial shipments: {self.get_partial_shipment_default_display().lower()}."
            ),
        }


# --------------------------------------------------------------------------- intake


class WebhookDelivery(models.Model):
    """Every delivery from outside, kept as it came: raw body and headers, for audit and replay."""

    class Source(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"
        AFTERSHIP = "aftership", "AfterShip"
        EASYPOST = "easypost", "EasyPost"
        SHIPPO = "shippo", "Shippo"
        GENERIC = "generic", "Generic"
        CSV = "csv", "CSV upload"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (stale or not relevant)"
        DUPLICATE = "duplicate", "Duplicate"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected (signature or format)"

    source = models.CharField(max_length=16, choices=Source.choices)
    topic = models.CharField(max_length=64, blank=True)
    delivery_id = models.CharField(max_length=128, blank=True, help_text="The sender's delivery or webhook id.")
    body_sha256 = models.CharField(max_length=64)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    signature_valid = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    resource_updated_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "delivery_id"],
                condition=~Q(delivery_id="") & Q(signature_valid=True),
                name="delivery_unique_id_per_source",
            ),
        ]
        indexes = [
            models.Index(fields=["source", "body_sha256"], name="delivery_source_body"),
            models.Index(fields=["status", "received_at"], name="delivery_status_received"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.topic} ({self.get_status_display()})"

    @staticmethod
    def hash_body(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()


# --------------------------------------------------------------------------- allocation trail


class StockAllocationQuerySet(models.QuerySet):
    def proposed(self):
        return self.filter(status=StockAllocation.Status.PROPOSED)

    def for_review(self):
        return self.select_related("product", "created_by", "decided_by").order_by("-created_at", "-id")


class StockAllocation(models.Model):
    """One change to a product's stock or allocation, with the plan of who got units and why.

    Rows are written by ``backorders.allocation`` only and never deleted. A proposal (supply short
    of demand) is the one row that changes afterwards, once: the owner applies it, or a later stock
    event replans the product's free units and supersedes it.
    """

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Stock received"
        COUNT = "count", "Stock count"
        SALE = "sale", "New sale reserved stock"
        RELEASE = "release", "Cancellation released stock"
        REPLAN = "replan", "Freed units planned again"

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed (awaiting the owner)"
        APPLIED = "applied", "Applied"
        SUPERSEDED = "superseded", "Superseded by a later plan"
        RECORDED = "recorded", "Recorded (nothing to allocate)"

    TRANSITIONS = {
        Status.PROPOSED: {Status.APPLIED, Status.SUPERSEDED},
        Status.APPLIED: set(),
        Status.SUPERSEDED: set(),
        Status.RECORDED: set(),
    }

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="allocations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    reference = models.CharField(max_length=128, blank=True, help_text="Purchase order, delivery id or order.")
    on_hand_before = models.IntegerField()
    on_hand_after = models.IntegerField()
    free_units = models.IntegerField(default=0, help_text="Unclaimed units the plan shared out.")
    demand_units = models.IntegerField(default=0, help_text="Units waiting lines still needed.")
    planned_units = models.IntegerField(default=0)
    applied_units = models.IntegerField(default=0, help_text="Units given (negative when released).")
    plan = models.JSONField(default=dict, blank=True, help_text="Who gets units, who keeps waiting, and why.")
    applied = models.JSONField(default=list, blank=True, help_text="What was written: line, order, units.")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replaced_by",
        help_text="The open proposal this plan superseded.",
    )

    objects = StockAllocationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product"], condition=Q(status="proposed"), name="allocation_one_open_proposal_per_product"
            ),
            models.CheckConstraint(
                condition=Q(on_hand_before__gte=0) & Q(on_hand_after__gte=0), name="allocation_on_hand_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(status="proposed") | Q(status="recorded") | Q(decided_at__isnull=False),
                name="allocation_decided_has_time",
            ),
        ]
        indexes = [models.Index(fields=["product", "status"], name="allocation_product_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.product_id} ({self.get_status_display()})"

    def delete(self, *args, **kwargs):
        raise PermissionError("The allocation trail is kept for audits and cannot be deleted.")


# Intake's own rows live beside the adapters; imported here so Django registers them with this app.
from .intake.models import ImportJob, TaskDebounce  # noqa: E402, F401
