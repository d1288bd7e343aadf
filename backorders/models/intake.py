"""Webhook deliveries as they came in."""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookDelivery(models.Model):
    """Every delivery from outside, kept as it came: raw body and headers, for audit and replay."""

    class Source(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"
        AFTERSHIP = "aftership", "AfterShip"
        EASYPOST = "easypost", "EasyPost"
        SHIPPO = "shippo", "Shippo"
        GENERIC = "generic", "Generic"
        SHIPSTATION = "shipstation", "ShipStation"
        BIGCOMMERCE = "bigcommerce", "BigCommerce"
        MAGENTO = "magento", "Magento"
        CSV = "csv", "CSV upload"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        WAITING = "waiting", "Waiting (for a fact it needs, or a retry)"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (stale or not relevant)"
        DUPLICATE = "duplicate", "Duplicate"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected (signature or format)"
        DISMISSED = "dismissed", "Dismissed (failed, set aside by staff)"

    source = models.CharField(max_length=16, choices=Source.choices)
    topic = models.CharField(max_length=64, blank=True)
    delivery_id = models.CharField(max_length=128, blank=True, help_text="The sender's delivery or webhook id.")
    body_sha256 = models.CharField(max_length=64)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    body_size = models.PositiveIntegerField(
        default=0, help_text="Bytes in the body as sent (kept when the body is not)."
    )
    signature_valid = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    resource_updated_at = models.DateTimeField(null=True, blank=True)
    waiting_for = models.CharField(
        max_length=200, blank=True, help_text="The fact a waiting delivery needs, such as order:shopify:123."
    )
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When a waiting delivery is tried again.")
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
            models.Index(fields=["retry_at"], name="delivery_waiting_retry", condition=Q(status="waiting")),
        ]

    # pruned after WEBHOOK_RETENTION_DAYS; failed (and received, processing) ones stay until replayed or dismissed
    PRUNABLE = (Status.PROCESSED, Status.IGNORED, Status.DUPLICATE, Status.REJECTED, Status.DISMISSED)

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.topic} ({self.get_status_display()})"

    @staticmethod
    def hash_body(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()
