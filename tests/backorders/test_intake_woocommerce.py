"""WooCommerce webhooks: the creation ping, signatures, REST v3 orders and product stock."""

from __future__ import annotations

import random

import pytest

from backorders.intake.woocommerce import parent_of
from backorders.models import Order, OrderLine, Product, StockAllocation, WebhookDelivery
from backorders.tasks import process_delivery
from tests import factories
from tests.backorders.intake_samples import INTAKE_SETTINGS, compact, post_woocommerce, sample

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)


def deliver(client, topic: str, payload: dict, delivery_id: str = "1") -> WebhookDelivery:
    response = post_woocommerce(client, topic, compact(payload), delivery_id=delivery_id)
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    if delivery.status == WebhookDelivery.Status.RECEIVED:
        process_delivery(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_it_answers_the_unsigned_creation_ping_with_exactly_200(client):
    response = client.post(
        "/webhooks/woocommerce/", data=b"webhook_id=12", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    ping = WebhookDelivery.objects.get()
    assert ping.topic == "ping" and ping.status == WebhookDelivery.Status.IGNORED


def test_it_rejects_an_unsigned_order(client):
    body = compact(sample("woocommerce-order-created.json"))
    response = post_woocommerce(client, "order.created", body, signature="")
    assert response.status_code == 401
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.REJECTED


def test_it_maps_the_published_order_and_flags_an_unknown_product(client):
    factories.ProductFactory(sku="Bar3", on_hand=5)
    delivery = deliver(client, "order.created", sample("woocommerce-order-created.json"))
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error
    order = Order.objects.get()
    assert (order.channel, order.external_id, order.number, str(order.total)) == ("woocommerce", "727", "727", "29.35")
    assert order.customer.email == "john.doe@example.com" and order.shipping_postal_code == "94103"
    lines = {line.external_id: line for line in order.lines.select_related("product")}
    assert lines["316"].product.sku == "Bar3" and lines["316"].state == OrderLine.State.ALLOCATED
    unknown = lines["315"].product  # sku "" and product 93: a new product with no stock, flagged
    assert (unknown.sku, unknown.woocommerce_id, unknown.created_from_unknown_sku) == ("woocommerce-93", "93", True)
    assert lines["315"].state == OrderLine.State.BACKORDERED and lines["315"].quantity == 2


def test_it_recognises_a_resend_though_its_delivery_id_is_new(client):
    body = compact(sample("woocommerce-order-created.json"))
    post_woocommerce(client, "order.created", body, delivery_id="1")
    second = post_woocommerce(client, "order.created", body, delivery_id="2").json()
    assert second["duplicate"] is True


def test_it_leaves_stock_alone_when_woocommerce_does_not_manage_it(client):
    product = factories.ProductFactory(sku="premium-quality", on_hand=4)
    payload = dict(sample("woocommerce-product-updated.json"), sku="premium-quality")
    delivery = deliver(client, "product.updated", payload)
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    product.refresh_from_db()
    assert product.on_hand == 4 and product.woocommerce_id == "794"
    assert product.backorder_mode == Product.BackorderMode.DENY  # backorders "no"


def test_it_counts_managed_stock_and_takes_a_negative_count_as_zero(client):
    payload = dict(sample("woocommerce-product-variation-updated.json"), manage_stock=True, stock_quantity=6)
    deliver(client, "product.updated", payload)
    product = Product.objects.get(woocommerce_id="732")
    assert product.on_hand == 6
    oversold = dict(payload, stock_quantity=-2, date_modified_gmt="2017-03-24T03:36:38", backorders="notify")
    deliver(client, "product.updated", oversold)
    product.refresh_from_db()
    assert product.on_hand == 0 and product.backorder_mode == Product.BackorderMode.BACKORDER


def _story():
    created = sample("woocommerce-order-created.json")
    cancelled = dict(created, status="cancelled", date_modified_gmt="2017-03-23T10:00:00")
    stock_then = dict(sample("woocommerce-product-variation-updated.json"), id=23, sku="Bar3", manage_stock=True)
    stock_then["stock_quantity"] = 3
    stock_now = dict(stock_then, stock_quantity=1, date_modified_gmt="2017-03-23T11:00:00")
    return [
        ("order.created", created),
        ("order.updated", cancelled),
        ("product.updated", stock_then),
        ("product.updated", stock_now),
    ]


def _state():
    return {
        "order": list(Order.objects.values_list("status", "channel_updated_at")),
        "lines": sorted(OrderLine.objects.values_list("external_id", "quantity", "allocated", "state")),
        "products": sorted(Product.objects.values_list("sku", "on_hand", "allocated", "woocommerce_id")),
    }


def _reset():
    WebhookDelivery.objects.all().delete()
    Order.objects.all().delete()
    StockAllocation.objects.all().delete()  # the trail of this run only; a test resets it
    Product.objects.all().delete()
    factories.ProductFactory(sku="Bar3", on_hand=5)


def test_it_ends_in_the_in_order_state_whatever_the_order_of_arrival(client):
    story = _story()
    _reset()
    for n, (topic, payload) in enumerate(story):
        deliver(client, topic, payload, str(n))
    expected = _state()
    assert expected["order"][0][0] == Order.Status.CANCELLED
    assert ("Bar3", 1, 0, "23") in expected["products"]
    for seed in range(3):
        _reset()
        shuffled = [item for item in story for _ in range(3)]
        random.Random(seed).shuffle(shuffled)
        for n, (topic, payload) in enumerate(shuffled):
            deliver(client, topic, payload, f"{seed}-{n}")
        assert _state() == expected, f"seed {seed}"


@pytest.mark.parametrize(
    ("payload", "parent"),
    [
        ({"parent_id": 22}, "22"),
        ({"parent_id": 0, "type": "simple"}, ""),
        ({"_links": {"self": [{"href": "https://example.com/wp-json/wc/v3/products/22/variations/732"}]}}, "22"),
        ({"_links": {"self": [{"href": "https://example.com/wp-json/wc/v3/products/22/variations/999"}]}}, ""),
        ({"_links": {"self": "products/22/variations/732"}}, ""),
        ({"_links": {"self": 5}}, ""),
        ({"_links": [1, 2]}, ""),
    ],
)
def test_a_variations_parent_is_read_from_parent_id_or_its_own_link_and_nothing_else(payload, parent):
    assert parent_of(payload, "732") == parent
