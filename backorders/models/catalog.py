"""Products and their stock counters."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from backorders.formats.text import product_name

from .common import ZERO


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
    woocommerce_parent_id = models.CharField(
        max_length=32, blank=True, help_text="The parent product's id when the WooCommerce id is a variation's."
    )
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
        return product_name(self.title, self.variant_title)

    @property
    def available(self) -> int:
        """Units on hand that no order line has claimed yet."""
        return self.on_hand - self.allocated

    @property
    def margin(self) -> Decimal:
        return self.price - self.cost
