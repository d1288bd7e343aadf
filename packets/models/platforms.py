"""What the desk keeps of its own marks on other platforms: ShipStation's "Backorder" tag per order."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from backorders.models import Order


class PlatformTag(models.Model):
    """Whether an order should carry, and carries, our tag on a shipping platform.

    ``wanted`` follows the order (waiting on stock or not); ``tagged`` is what the platform was
    last told and confirmed. A row whose two differ is due: the sync calls the platform, and a
    refusal or no answer leaves it due with ``next_attempt_at`` and the platform's words.
    """

    class Platform(models.TextChoices):
        SHIPSTATION = "shipstation", "ShipStation"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="platform_tags", db_index=False)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    remote_order_id = models.CharField(max_length=64, blank=True, help_text="The order's id on the platform.")
    wanted = models.BooleanField(default=False, help_text="The order waits on stock: it should carry the tag.")
    tagged = models.BooleanField(default=False, help_text="The platform confirmed the tag is on the order.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Calls since the last success.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="The platform's words on the last failed call.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "platform"], name="platform_tag_one_per_order"),
        ]
        indexes = [models.Index(fields=["platform", "wanted", "tagged"], name="platform_tag_due")]

    def __str__(self) -> str:
        state = "tagged" if self.tagged else "not tagged"
        return f"{self.get_platform_display()} tag on order {self.order_id} ({state}, wanted: {self.wanted})"
