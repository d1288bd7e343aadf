"""The stock allocation trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .catalog import Product


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

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="allocations", db_index=False)
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
