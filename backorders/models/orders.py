"""Customers, orders and order lines."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .catalog import Product
from .common import ZERO, Channel, PartialShipment

if TYPE_CHECKING:
    from .policy import StorePolicy


class Customer(models.Model):
    class ContactChannel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    email = models.EmailField(blank=True)
    name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=32, blank=True, help_text="E.164 (+15555555555) when it could be read.")
    phone_unreadable = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The phone could not be read as a number: kept as typed, never sent an SMS.",
    )
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

    PartialShipment = PartialShipment  # the choices live in models.common, beside the policy's default

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
            # Shopify's orders export (CSV) and Shopify's webhooks describe the same shop's orders: one
            # number is one order, whichever came first (intake.one_order merges the second into it)
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(channel__in=["csv", "shopify"]),
                name="order_unique_shopify_number",
            ),
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
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines", db_index=False)
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
