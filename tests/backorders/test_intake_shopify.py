"""Shopify webhooks: verified, kept, deduplicated, queued; payloads mapped as Shopify publishes them."""

from __future__ import annotations

import logging
import random
from copy import deepcopy

import pytest
from django.conf import settings

from backorders.models import Order, OrderLine, Product, Shipment, StockAllocation, WebhookDelivery
from backorders.tasks import process_delivery
from tests import factories
from tests.backorders.intake_samples import (
    INTAKE_SETTINGS,
    SHOPIFY_OLD_SECRET,
    compact,
    post_shopify,
    queued,
    sample,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ORDER_ID = "820982911946154500"  # the sample's numeric id, as the file has it


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)


def open_order(updated_at="2026-09-03T10:15:00-04:00", **changes) -> dict:
    """Shopify's orders/create sample as an order still open (the sample itself was cancelled)."""
    payload = sample("shopify-orders-create.json")
    payload.update({"cancelled_at": None, "cancel_reason": None, "financial_status": "paid"})
    payload.update({"created_at": "2026-09-03T10:00:00-04:00", "updated_at": updated_at}, **changes)
    return payload


def deliver(client, topic: str, payload: dict, webhook_id: str) -> WebhookDelivery:
    response = post_shopify(client, topic, compact(payload), webhook_id=webhook_id)
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    if delivery.status == WebhookDelivery.Status.RECEIVED:
        process_delivery(delivery.pk)
    return delivery


# --------------------------------------------------------------------------- the endpoint


def test_it_takes_the_newer_header_names_without_x(client):
    body = compact(open_order())
    response = post_shopify(client, "orders/create", body, webhook_id="evt-no-x-1", prefix="shopify-")
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert delivery.signature_valid and delivery.status == WebhookDelivery.Status.RECEIVED
    assert (delivery.topic, delivery.delivery_id) == ("orders/create", "evt-no-x-1")

    again = post_shopify(client, "orders/create", body, webhook_id="evt-no-x-1", prefix="shopify-")
    assert again.json()["duplicate"] is True
    forged = post_shopify(client, "orders/create", body, webhook_id="evt-no-x-2", prefix="shopify-", signature="bm9")
    assert forged.status_code == 401


def test_it_keeps_a_signed_delivery_and_queues_it_without_processing_in_the_request(client):
    body = compact(open_order())
    response = post_shopify(client, "orders/create", body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.RECEIVED and delivery.signature_valid
    assert bytes(delivery.body) == body
    assert delivery.topic == "orders/create"
    assert delivery.delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert delivery.headers["x-shopify-shop-domain"] == "backorder-desk-test.myshopify.com"
    assert delivery.resource_id == f"order:{ORDER_ID}"
    assert not Order.objects.exists()  # the worker does that
    # on_commit never fires inside a test transaction, so nothing is queued yet; see the next test


def test_it_enqueues_the_delivery_for_the_worker_after_commit(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(client, "orders/create", compact(open_order()), webhook_id="w-1")
    [task] = queued("backorders.tasks.process_pending")
    assert task.args() == (WebhookDelivery.objects.get().pk,)


def test_it_accepts_the_previous_secret_during_a_rotation(client):
    response = post_shopify(client, "orders/create", compact(open_order()), webhook_id="w-1", secret=SHOPIFY_OLD_SECRET)
    assert response.status_code == 200


def test_it_reads_header_names_in_any_case(client):
    body = compact(open_order())
    from tests.backorders.intake_samples import b64_hmac

    response = client.post(
        "/webhooks/shopify/",
        data=body,
        content_type="application/json",
        headers={
            "x-shopify-topic": "orders/create",
            "X-SHOPIFY-HMAC-SHA256": b64_hmac(settings.SHOPIFY_WEBHOOK_SECRETS[0], body),
            "x-Shopify-Webhook-Id": "w-case",
        },
    )
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().delivery_id == "w-case"


def test_it_rejects_a_bad_signature_with_401_and_keeps_the_attempt(client, caplog):
    body = compact(open_order())
    with caplog.at_level(logging.WARNING, logger="backorders.intake"):
        response = post_shopify(client, "orders/create", body, webhook_id="w-1", signature="bm90IHRoZSBzaWduYXR1cmU=")
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.REJECTED
    assert delivery.signature_valid is False
    assert "signature" in delivery.error
    assert bytes(delivery.body) == b""  # the attempt is kept by its size and hash, not its body
    assert (delivery.body_size, delivery.body_sha256) == (len(body), WebhookDelivery.hash_body(body))
    assert any("Rejected shopify delivery" in r.getMessage() for r in caplog.records)


def test_it_rejects_a_body_signed_with_an_unknown_secret(client):
    response = post_shopify(client, "orders/create", compact(open_order()), webhook_id="w-1", secret="someone-else")
    assert response.status_code == 401


def test_it_rejects_everything_while_no_secret_is_set(client, settings):
    settings.SHOPIFY_WEBHOOK_SECRETS = []
    response = post_shopify(client, "orders/create", compact(open_order()), webhook_id="w-1")
    assert response.status_code == 401
    assert "SHOPIFY_WEBHOOK_SECRETS is not set" in WebhookDelivery.objects.get().error


def test_it_answers_malformed_json_with_400_and_keeps_it(client):
    response = post_shopify(client, "orders/create", b'{"id": 1,', webhook_id="w-1")
    assert response.status_code == 400
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.REJECTED
    assert delivery.signature_valid is True
    assert "not valid JSON" in delivery.error


def test_it_recognises_a_retry_by_webhook_id_and_by_body(client):
    body = compact(open_order())
    first = post_shopify(client, "orders/create", body, webhook_id="w-1").json()
    again = post_shopify(client, "orders/create", body, webhook_id="w-1").json()
    same_body = post_shopify(client, "orders/create", body, webhook_id="w-2").json()
    assert not first["duplicate"] and again["duplicate"] and same_body["duplicate"]
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED).count() == 1
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DUPLICATE).count() == 2


def test_it_refuses_get(client):
    assert client.get("/webhooks/shopify/").status_code == 405


# --------------------------------------------------------------------------- orders


def test_it_maps_the_published_orders_create_sample(client):
    """The sample is a cancelled test order for two units of one unknown SKU."""
    delivery = deliver(client, "orders/create", sample("shopify-orders-create.json"), "w-1")
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error
    order = Order.objects.get()
    assert (order.channel, order.external_id, order.number) == ("shopify", ORDER_ID, "#9999")
    assert order.status == Order.Status.CANCELLED and order.payment_state == Order.PaymentState.VOIDED
    assert order.customer.email == "jon@example.com"
    assert order.shipping_country == "US" and order.shipping_region == "KY"
    lines = list(order.lines.order_by("external_id"))
    assert [line.external_id for line in lines] == ["141249953214522980", "866550311766439000"]
    assert {line.state for line in lines} == {OrderLine.State.CANCELLED}
    product = Product.objects.get()
    assert product.sku == "IPOD2008PINK" and product.created_from_unknown_sku and product.on_hand == 0
    assert product.shopify_variant_id == "808950810"
    assert "unknown SKUs: IPOD2008PINK" in delivery.error


def test_it_keeps_ids_beyond_two_to_the_53_exact(client):
    exact = 820982911946154508  # the id in the sample's admin_graphql_api_id; a float would lose the 8
    payload = open_order(id=exact)
    payload["line_items"][0]["id"] = 866550311766439020
    deliver(client, "orders/create", payload, "w-1")
    order = Order.objects.get()
    assert order.external_id == "820982911946154508"
    assert order.lines.filter(external_id="866550311766439020").exists()


def test_it_takes_null_sku_and_variant_from_the_2026_sample(client):
    payload = sample("shopify-orders-create.docs-metadata-2026-01.json")
    assert all(li["variant_id"] is None for li in payload["line_items"])
    delivery = deliver(client, "orders/create", payload, "w-1")
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error
    assert Order.objects.get().lines.count() == len(payload["line_items"])
    payload = open_order()
    for li in payload["line_items"]:
        li["sku"], li["variant_id"] = None, None
    payload["id"], payload["name"] = 1001, "#1001"  # a shop numbers each order once; the samples share #9999
    deliver(client, "orders/create", payload, "w-2")
    skus = set(Order.objects.get(external_id="1001").lines.values_list("product__sku", flat=True))
    assert skus == {"shopify-nosku-ipod-nano-8gb"}


def test_it_reserves_free_stock_first_and_backorders_the_rest(client):
    factories.ProductFactory(sku="IPOD2008PINK", on_hand=1)
    deliver(client, "orders/create", open_order(), "w-1")
    states = sorted(OrderLine.objects.values_list("state", "allocated"))
    assert states == [("allocated", 1), ("backordered", 0)]
    assert Product.objects.get(sku="IPOD2008PINK").allocated == 1


def test_it_releases_a_cancelled_orders_units(client):
    factories.ProductFactory(sku="IPOD2008PINK", on_hand=5)
    deliver(client, "orders/create", open_order(), "w-1")
    assert Product.objects.get().allocated == 2
    cancelled = open_order(
        updated_at="2026-09-04T09:00:00-04:00", cancelled_at="2026-09-04T09:00:00-04:00", cancel_reason="inventory"
    )
    deliver(client, "orders/cancelled", cancelled, "w-2")
    assert Product.objects.get().allocated == 0
    assert set(OrderLine.objects.values_list("state", "allocated")) == {("cancelled", 0)}
    assert Order.objects.get().status == Order.Status.CANCELLED


def test_it_ignores_an_older_version_after_a_newer_one(client):
    factories.ProductFactory(sku="IPOD2008PINK", on_hand=5)
    newer = open_order(updated_at="2026-09-03T12:00:00-04:00", financial_status="refunded")
    deliver(client, "orders/updated", newer, "w-2")
    older = deliver(client, "orders/create", open_order(updated_at="2026-09-03T10:15:00-04:00"), "w-1")
    older.refresh_from_db()
    assert older.status == WebhookDelivery.Status.IGNORED
    assert Order.objects.get().payment_state == Order.PaymentState.REFUNDED


def _story(kind: str) -> list[tuple[str, dict]]:
    created = open_order(updated_at="2026-09-03T10:15:00-04:00")
    edited = open_order(updated_at="2026-09-03T11:00:00-04:00")
    edited["line_items"][1]["current_quantity"] = 0  # the second line edited away
    story = [("orders/create", created), ("orders/updated", edited)]
    if kind == "cancelled":
        cancelled = deepcopy(edited)
        cancelled.update(updated_at="2026-09-04T09:00:00-04:00", cancelled_at="2026-09-04T09:00:00-04:00")
        story.append(("orders/cancelled", cancelled))
    return story


def _state() -> dict:
    order = Order.objects.get()
    return {
        "order": (order.status, order.payment_state, order.channel_updated_at, order.number, str(order.total)),
        "lines": sorted(
            OrderLine.objects.values_list("external_id", "product__sku", "quantity", "allocated", "shipped", "state")
        ),
        "products": sorted(Product.objects.values_list("sku", "on_hand", "allocated")),
    }


def _reset():
    WebhookDelivery.objects.all().delete()
    Order.objects.all().delete()
    StockAllocation.objects.all().delete()  # the trail of this run only; a test resets it
    Product.objects.all().delete()
    factories.ProductFactory(sku="IPOD2008PINK", on_hand=1)


@pytest.mark.parametrize("kind", ["edited", "cancelled"])
def test_it_ends_in_the_in_order_state_whatever_the_order_of_arrival(client, kind):
    story = _story(kind)
    _reset()
    for n, (topic, payload) in enumerate(story):
        deliver(client, topic, payload, f"in-order-{n}")
    expected = _state()
    for seed in range(3):
        _reset()
        shuffled = [item for item in story for _ in range(3)]  # each delivered three times
        random.Random(seed).shuffle(shuffled)
        for n, (topic, payload) in enumerate(shuffled):
            deliver(client, topic, payload, f"run-{seed}-{n}")
        assert _state() == expected, f"seed {seed}: {[t for t, _ in shuffled]}"
        # and replaying every stored delivery again, shuffled, changes nothing
        kept = list(WebhookDelivery.objects.filter(status__in=["processed", "ignored"]).values_list("pk", flat=True))
        random.Random(seed).shuffle(kept)
        for pk in kept:
            WebhookDelivery.objects.filter(pk=pk).update(status=WebhookDelivery.Status.FAILED)
            process_delivery(pk)
        assert _state() == expected


# --------------------------------------------------------------------------- products and stock


def _product_with_inventory_item() -> dict:
    payload = sample("shopify-products-update.json")
    inventory = sample("shopify-inventory_levels-update.json")
    payload["variants"][0]["inventory_item_id"] = inventory["inventory_item_id"]
    return payload


def test_it_learns_variants_and_inventory_items_from_products_update(client):
    deliver(client, "products/update", _product_with_inventory_item(), "w-1")
    small = Product.objects.get(sku="example-shirt-s")
    assert small.shopify_variant_id == "642667041472714000"
    assert small.shopify_inventory_item_id == "271878346596884000"
    assert small.shopify_product_id == "788032119674292900"
    assert small.title == "Example T-Shirt" and small.backorder_mode == Product.BackorderMode.DENY
    assert not small.created_from_unknown_sku
    assert Product.objects.get(sku="example-shirt-m").shopify_inventory_item_id == ""


def test_it_keeps_products_whose_variants_have_no_sku(client):
    delivery = deliver(client, "products/update", sample("shopify-products-update.docs-metadata-2026-01.json"), "w-1")
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert set(Product.objects.values_list("sku", flat=True)) == {
        "shopify-variant-642667041472714000",
        "shopify-variant-757650484644203900",
    }


def test_it_counts_stock_from_inventory_levels_through_the_learned_item(client):
    deliver(client, "products/update", _product_with_inventory_item(), "w-1")
    level = sample("shopify-inventory_levels-update.json")
    untracked = deliver(client, "inventory_levels/update", level, "w-2")
    untracked.refresh_from_db()
    assert untracked.status == WebhookDelivery.Status.IGNORED  # the sample's available is null
    level.update(available=7, updated_at="2026-09-03T10:00:00-04:00")
    deliver(client, "inventory_levels/update", level, "w-3")
    older = dict(level, available=3, updated_at="2026-09-03T09:00:00-04:00")
    deliver(client, "inventory_levels/update", older, "w-4")
    assert Product.objects.get(sku="example-shirt-s").on_hand == 7


def test_it_keeps_an_inventory_level_for_an_unknown_item_waiting_for_its_product(client):
    delivery = deliver(
        client, "inventory_levels/update", dict(sample("shopify-inventory_levels-update.json"), available=4), "w-1"
    )
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.WAITING and delivery.retry_at is not None
    assert delivery.waiting_for == "inventory_item:271878346596884000"
    assert "inventory item 271878346596884000" in delivery.error


# --------------------------------------------------------------------------- fulfilments


def test_it_records_fulfilments_and_their_events(client):
    deliver(client, "orders/create", open_order(), "w-1")
    deliver(client, "fulfillments/create", sample("shopify-fulfillments-create.json"), "w-2")
    shipment = Shipment.objects.get()
    assert (shipment.carrier, shipment.tracking_number, shipment.external_id) == ("UPS", "1z827wk74630", "123456")
    assert shipment.status == "label_created" and shipment.events.count() == 0  # shipment_status is null
    deliver(client, "fulfillment_events/create", sample("shopify-fulfillment_events-create.json"), "w-3")
    shipment.refresh_from_db()
    assert shipment.status == "in_transit"
    assert shipment.first_scan_at == shipment.last_scan_at
    event = shipment.events.get()
    assert (event.raw_status, event.location, event.source) == ("in_transit", "CA", "shopify")


def test_it_turns_a_shipment_status_it_does_not_know_into_unknown(client):
    deliver(client, "orders/create", open_order(), "w-1")
    update = sample("shopify-fulfillments-update.docs-metadata-2026-01.json")
    update.update(shipment_status="teleported", updated_at="2026-09-05T10:00:00-04:00")
    delivery = deliver(client, "fulfillments/update", update, "w-2")
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    event = Shipment.objects.get().events.get()
    assert (event.status, event.raw_status) == ("unknown", "teleported")
