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
