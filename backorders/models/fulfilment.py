"""Shipments and carrier tracking events."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .orders import Order


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

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments", db_index=False)
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

    # A label is not a shipment: only a carrier scan shows the parcel has left.
    NOT_MOVING = frozenset({TrackingStatus.LABEL_CREATED, TrackingStatus.UNKNOWN, TrackingStatus.EXPIRED})

    @property
    def carrier_has_it(self) -> bool:
        """True once a carrier scan shows the parcel in the carrier's hands (not a label alone)."""
        return self.first_scan_at is not None or self.status not in self.NOT_MOVING


class TrackingEvent(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events", db_index=False)
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
