"""What the channels say they have, per location, and what the desk last told them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .catalog import Product


class ShopifyLocationLevel(models.Model):
    """One Shopify inventory item's ``available`` at one location, as ``inventory_levels/update`` said.

    Shopify reports each location on its own; a variant's stock is the sum over the locations the
    store sells from (``settings.SHOPIFY_SELLING_LOCATIONS``, or every location seen).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="location_levels")
    inventory_item_id = models.CharField(max_length=32)
    location_id = models.CharField(max_length=32)
    available = models.IntegerField(help_text="Shopify's available at this location (negative when oversold).")
    channel_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Shopify's updated_at of the level kept; older deliveries are ignored."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["inventory_item_id", "location_id"], name="location_level_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.inventory_item_id}@{self.location_id}: {self.available}"


class ChannelStock(models.Model):
    """One product on one channel: the stock the channel reports, and the desk's push of its own number.

    With ``STOCK_SOURCE=desk`` the desk's available-to-promise is ``wanted``; the worker sets the
    channel to it (``packets.store_actions.stock_push``) and records ``pushed`` when the channel
    took it. ``sequence`` grows with each new ``wanted``, so a retry resends the same request (the
    same idempotency key) and a newer number is never overwritten by an older one.
    """

    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"

    class Status(models.TextChoices):
        IDLE = "idle", "Nothing to send"
        PENDING = "pending", "Waiting to be sent"
        RUNNING = "running", "Sending"
        SUCCEEDED = "succeeded", "Channel has it"
        FAILED = "failed", "Failed"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="channel_stock", db_index=False)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    channel_available = models.IntegerField(null=True, blank=True, help_text="What the channel last reported.")
    channel_reported_at = models.DateTimeField(null=True, blank=True)
    wanted = models.IntegerField(null=True, blank=True, help_text="The desk's available-to-promise to send.")
    sequence = models.PositiveIntegerField(default=0, help_text="Grows with each new number to send.")
    pushed = models.IntegerField(null=True, blank=True, help_text="The last number the channel took.")
    pushed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IDLE)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    request = models.JSONField(default=dict, blank=True)
    response = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    mismatch_at = models.DateTimeField(null=True, blank=True, help_text="When the channel last offered too many.")
    mismatch_channel = models.IntegerField(null=True, blank=True, help_text="What the channel offered then.")
    mismatch_desk = models.IntegerField(null=True, blank=True, help_text="What the desk had to promise then.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "platform"]
        constraints = [
            models.UniqueConstraint(fields=["product", "platform"], name="channel_stock_unique_per_platform"),
            models.CheckConstraint(condition=Q(wanted__isnull=True) | Q(wanted__gte=0), name="channel_stock_wanted"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="channel_stock_due")]

    def __str__(self) -> str:
        return f"{self.product.sku} on {self.get_platform_display()}: {self.get_status_display().lower()}"

    @property
    def mismatch(self) -> int | None:
        """Units the channel offers beyond what the desk last pushed (positive: it may oversell)."""
        if self.channel_available is None or self.wanted is None:
            return None
        return self.channel_available - self.wanted

    @property
    def mismatch_corrected(self) -> bool:
        """The channel was set to the desk's number after it last offered too many."""
        return bool(self.mismatch_at and self.pushed_at and self.pushed_at >= self.mismatch_at)
