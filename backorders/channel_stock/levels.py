"""What a channel reports: Shopify per location (summed per variant), WooCommerce per product."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from ..models import ChannelStock, Product, ShopifyLocationLevel


def desk_is_source() -> bool:
    return settings.STOCK_SOURCE == "desk"


def selling_levels(product: Product):
    """The product's levels at the locations the store sells from (every location seen, unless listed)."""
    levels = ShopifyLocationLevel.objects.filter(
        product=product, inventory_item_id=product.shopify_inventory_item_id
    ).order_by("location_id")
    if settings.SHOPIFY_SELLING_LOCATIONS:
        levels = levels.filter(location_id__in=settings.SHOPIFY_SELLING_LOCATIONS)
    return levels


def record_shopify_level(
    product: Product, item: str, location: str, available: int, updated_at: datetime | None
) -> int | None:
    """Keep one location's level and return the variant's sum over the selling locations.

    None when a newer level for that location is already kept (an out-of-order delivery). The
    caller holds the product's row lock, so two deliveries for one item apply one after the other.
    """
    level, created = ShopifyLocationLevel.objects.get_or_create(
        inventory_item_id=item,
        location_id=location,
        defaults={"product": product, "available": available, "channel_updated_at": updated_at},
    )
    if not created:
        kept = level.channel_updated_at
        if kept is not None and updated_at is not None and updated_at < kept:
            return None
        level.product, level.available = product, available
        level.channel_updated_at = updated_at or kept
        level.save()
    total = selling_levels(product).aggregate(units=Sum("available"))["units"] or 0
    report_channel_stock(product, ChannelStock.Platform.SHOPIFY, total)
    return total


def report_channel_stock(product: Product, platform: str, available: int) -> ChannelStock:
    """What the channel says it can sell of the product now, kept to compare with the desk's number."""
    row, _ = ChannelStock.objects.update_or_create(
        product=product,
        platform=platform,
        defaults={"channel_available": available, "channel_reported_at": timezone.now()},
    )
    return row
