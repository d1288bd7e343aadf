"""Staff write the backorder wording and stop selling from the product page, in Chromium.

The Shopify stand-in runs on loopback in this process (the ``shop`` fixture); the worker's task is
run in the test's thread once the page queued it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backorders.models import ChannelStock
from packets.models import StoreAction
from packets.store_actions.runner import run_store_action
from packets.store_actions.stock_push import push_channel_stock
from tests import factories
from tests.e2e.conftest import sign_in
from tests.packets.packet_content import case_with_packet, contract_content
from tests.packets.store_fakes import shop  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_pending() -> None:
    for pk in StoreAction.objects.filter(status="pending").values_list("pk", flat=True):
        run_store_action(pk)


def test_staff_write_the_wording_and_stop_selling_from_the_product_page(page, support, shop, artifacts):  # noqa: F811
    product = factories.ProductFactory(
        sku="MUG-RED", title="Mug", variant_title="Red", on_hand=0, shopify_product_id="7001", shopify_variant_id="8001"
    )
    shop.add_product("7001", ["8001"])
    sign_in(page, support.username)
    page.goto(f"/products/{product.pk}/")

    page.fill("#wording-text", "Ships on Dec 20")
    page.get_by_role("button", name="Write to the product page").click()
    expect(page.locator(".flash")).to_contain_text("It names a date: say a range of weeks instead")
    expect(page.locator("#wording-text")).to_have_value("Ships on Dec 20")

    page.fill("#wording-text", "Backordered: ships in 3–5 weeks.")
    page.get_by_role("button", name="Write to the product page").click()
    expect(page.locator(".flash")).to_contain_text("Backorder wording on the product page approved")
    page.get_by_role("button", name="Stop selling when out of stock").click()
    run_pending()
    page.reload()

    expect(page.locator("[data-wording]")).to_contain_text("Backordered: ships in 3–5 weeks.")
    expect(page.locator("[data-selling]")).to_contain_text("Stopped")
    expect(page.locator(".store-action-succeeded")).to_have_count(2)
    assert shop.metafield("7001") == "Backordered: ships in 3–5 weeks."
    assert shop.policies("7001") == {"8001": "DENY"}
    page.screenshot(path=str(artifacts / "product-page-1366.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "product-page-390.png"), full_page=True)
    expect(page.get_by_role("button", name="Resume selling")).to_be_visible()


def test_the_owner_approves_a_pause_and_the_case_shows_the_stop_done(page, owner, support, shop, artifacts):  # noqa: F811
    red = factories.ProductFactory(
        sku="MUG-RED", title="Mug", variant_title="Red", on_hand=0, shopify_product_id="7001", shopify_variant_id="8001"
    )
    factories.ProductFactory(
        sku="MUG-BLUE", title="Mug", variant_title="Blue", shopify_product_id="7001", shopify_variant_id="8002"
    )
    shop.add_product("7001", ["8001", "8002"])
    order = factories.OrderFactory(number="#1042")
    case, packet = case_with_packet(contract_content(order_number="#1042"), order=order, product=red)
    proposal = factories.DecisionFactory(
        case=case, packet=packet, action="pause_product", decided_by=support, note="The supplier stopped making it"
    )  # proposed, waiting for an approval
    sign_in(page, owner.username)
    page.goto(f"/cases/{case.pk}/")
    expect(page.locator(".store-preview")).to_contain_text("Will stop selling Mug (Red) (MUG-RED) on Shopify")
    page.locator(f'[data-decision-id="{proposal.pk}"] [data-approve-decision]').click()
    expect(page.locator(".flash")).to_contain_text("Approved")
    run_pending()
    page.goto(f"/cases/{case.pk}/")

    expect(page.locator(".store-action-succeeded")).to_contain_text("Stop selling")
    expect(page.locator(".store-action-succeeded")).to_contain_text("2 variants set to deny orders (DENY)")
    [call] = shop.applied("productVariantsBulkUpdate")
    assert {v["inventoryPolicy"] for v in call["variables"]["variants"]} == {"DENY"}
    page.locator(".store-actions").screenshot(path=str(artifacts / "case-store-panel-1366.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".store-actions").screenshot(path=str(artifacts / "case-store-panel-390.png"))
    page.get_by_role("link", name="Product page").click()
    expect(page.locator("[data-selling]")).to_contain_text("Stopped")


def test_the_owner_sees_an_oversell_and_a_failed_push_and_sends_the_stock_again(page, owner, shop, artifacts, settings):  # noqa: F811
    settings.STOCK_SOURCE, settings.SHOPIFY_STOCK_LOCATION = "desk", "24826418"
    product = factories.ProductFactory(
        sku="MUG-SAGE",
        title="Mug",
        variant_title="Sage",
        on_hand=5,
        shopify_product_id="7002",
        shopify_variant_id="8003",
        shopify_inventory_item_id="4401",
    )
    now = timezone.now()
    ChannelStock.objects.create(
        product=product,
        platform="shopify",
        channel_available=9,
        channel_reported_at=now,
        wanted=5,
        sequence=2,
        pushed=7,
        pushed_at=now - timedelta(hours=2),
        status="failed",
        attempts=1,
        error="The location is not active. (INVALID)",
        mismatch_at=now,
        mismatch_channel=9,
        mismatch_desk=5,
    )
    sign_in(page, owner.username)
    page.goto(f"/products/{product.pk}/")
    entry = page.locator('[data-channel-stock="shopify"]')
    expect(entry).to_contain_text("9 available")
    expect(entry.locator("[data-mismatch]")).to_contain_text("9 offered against the desk's 5")
    expect(entry.locator("[data-push-error]")).to_contain_text("Shopify said: The location is not active.")
    expect(entry.locator("[data-mismatch]")).to_contain_text("not corrected")
    page.screenshot(path=str(artifacts / "product-stock-failed-1366.png"), full_page=True)

    page.get_by_role("button", name="Send the stock again").click()
    expect(page.locator(".flash")).to_contain_text("The stock for Shopify is sent again now.")
    expect(entry).to_contain_text("Waiting to be sent")
    push_channel_stock(ChannelStock.objects.get(product=product).pk)  # the worker's task, in this thread
    page.reload()
    expect(entry).to_contain_text("Channel has it")
    expect(entry.locator("[data-mismatch]")).to_contain_text("corrected: the channel was set to 5")
    assert shop.available("4401", "24826418") == 5
    page.screenshot(path=str(artifacts / "product-stock-1366.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "product-stock-390.png"), full_page=True)
