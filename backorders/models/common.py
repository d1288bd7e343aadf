"""Shared choices and constants."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

ZERO = Decimal("0.00")


class Channel(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    CSV = "csv", "CSV import"
    MANUAL = "manual", "Manual"
    GENERIC = "generic", "Generic API"
    BIGCOMMERCE = "bigcommerce", "BigCommerce"
    MAGENTO = "magento", "Magento"


class PartialShipment(models.TextChoices):
    """Ship what is on hand now, or wait until complete: an order's own choice, or the policy's default."""

    SHIP_AVAILABLE = "ship_available", "Ship what is available now"
    HOLD = "hold", "Hold the order until complete"
