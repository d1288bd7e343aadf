"""Shopify stock across locations: each location's level kept, a variant's stock their sum.

``inventory_levels/update`` arrives once per location (Shopify's sample, with the values changed);
the store sells from every location seen unless ``SHOPIFY_SELLING_LOCATIONS`` lists them.
"""

from __future__ import annotations

import pytest

from backorders.models import ChannelStock, Product, ShopifyLocationLevel, WebhookDelivery
from tests.backorders.intake_samples import INTAKE_SETTINGS, sample
from tests.backorders.test_intake_shopify import _product_with_inventory_item, deliver

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ITEM = "271878346596884000"
SHELF, BACKROOM, POPUP = "24826418", "24826419", "24826420"


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.STOCK_SOURCE = "channel"
    settings.SHOPIFY_SELLING_LOCATIONS = []


@pytest.fixture
def shirt(client):
    deliver(client, "products/update", _product_with_inventory_item(), "p-1")
    return Product.objects.get(sku="example-shirt-s")


def level(client, location, available, updated_at, webhook_id) -> WebhookDelivery:
    payload = sample("shopify-inventory_levels-update.json")
    payload.update(location_id=int(location), available=available, updated_at=updated_at)
    delivery = deliver(client, "inventory_levels/update", payload, webhook_id)
    delivery.refresh_from_db()
    return delivery


def test_two_locations_add_up_and_an_update_replaces_only_its_own_location(client, shirt):
    level(client, SHELF, 3, "2026-09-03T10:00:00-04:00", "w-1")
    level(client, BACKROOM, 4, "2026-09-03T10:01:00-04:00", "w-2")
    shirt.refresh_from_db()
    assert shirt.on_hand == 7

    done = level(client, SHELF, 1, "2026-09-03T11:00:00-04:00", "w-3")
    shirt.refresh_from_db()
    assert shirt.on_hand == 5, done.error
    kept = dict(ShopifyLocationLevel.objects.filter(product=shirt).values_list("location_id", "available"))
    assert kept == {SHELF: 1, BACKROOM: 4}
    assert ChannelStock.objects.get(product=shirt, platform="shopify").channel_available == 5
    assert "1 at location 24826418" in done.error  # the outcome note is kept in the error column


def test_an_older_level_for_a_location_never_overwrites_a_newer_one(client, shirt):
    level(client, SHELF, 3, "2026-09-03T10:00:00-04:00", "w-1")
    level(client, BACKROOM, 4, "2026-09-03T10:00:00-04:00", "w-2")
    level(client, SHELF, 6, "2026-09-03T12:00:00-04:00", "w-3")
    late = level(client, SHELF, 2, "2026-09-03T11:00:00-04:00", "w-4")  # sent before w-3, delivered after
    assert late.status == WebhookDelivery.Status.IGNORED
    # an older level for another location is still that location's newest: it applies
    other = level(client, BACKROOM, 5, "2026-09-03T10:30:00-04:00", "w-5")
    assert other.status == WebhookDelivery.Status.PROCESSED
    shirt.refresh_from_db()
    assert shirt.on_hand == 11
    assert ShopifyLocationLevel.objects.get(location_id=SHELF).available == 6


def test_only_the_locations_the_store_sells_from_count_when_it_lists_them(client, shirt, settings):
    settings.SHOPIFY_SELLING_LOCATIONS = [SHELF, BACKROOM]
    level(client, SHELF, 3, "2026-09-03T10:00:00-04:00", "w-1")
    level(client, POPUP, 40, "2026-09-03T10:00:00-04:00", "w-2")  # kept, not sold from
    level(client, BACKROOM, 2, "2026-09-03T10:00:00-04:00", "w-3")
    shirt.refresh_from_db()
    assert shirt.on_hand == 5
    assert ShopifyLocationLevel.objects.filter(product=shirt).count() == 3


def test_an_oversold_location_lowers_the_sum_and_the_count_never_goes_below_zero(client, shirt):
    level(client, SHELF, -2, "2026-09-03T10:00:00-04:00", "w-1")
    level(client, BACKROOM, 1, "2026-09-03T10:00:00-04:00", "w-2")
    shirt.refresh_from_db()
    assert shirt.on_hand == 0
    assert ChannelStock.objects.get(product=shirt, platform="shopify").channel_available == -1


def test_a_level_without_a_location_is_refused_with_its_reason(client, shirt):
    payload = dict(sample("shopify-inventory_levels-update.json"), available=3, location_id=None)
    delivery = deliver(client, "inventory_levels/update", payload, "w-1")
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "no location_id" in delivery.error
    assert not ShopifyLocationLevel.objects.exists()


def test_with_the_desk_as_stock_source_channel_levels_are_kept_but_never_counted(client, shirt, settings):
    Product.objects.filter(pk=shirt.pk).update(on_hand=9)
    settings.STOCK_SOURCE = "desk"
    settings.SHOPIFY_SHOP_URL = ""  # no push goes anywhere in this test: only the intake side is looked at
    done = level(client, SHELF, 3, "2026-09-03T10:00:00-04:00", "w-1")
    level(client, BACKROOM, 4, "2026-09-03T10:00:00-04:00", "w-2")
    shirt.refresh_from_db()
    assert shirt.on_hand == 9
    assert ChannelStock.objects.get(product=shirt, platform="shopify").channel_available == 7
    assert "the desk is the stock source" in done.error
