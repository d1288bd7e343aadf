"""ShipStation, BigCommerce and Magento intake against loopback stand-ins of their APIs.

Each adapter verifies, stores, queues and applies once like the other sources; the resources are
fetched from ``tests/backorders/platform_fakes.py``, which answers in the platforms' published
shapes and checks their credentials. Orders from each open the same case as a Shopify order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backorders.intake import magento
from backorders.models import Order, OrderLine, Product, Shipment, WebhookDelivery
from backorders.tasks import process_delivery
from packets.models import Case
from packets.sweep import run_sweep
from tests import factories
from tests.backorders.intake_samples import INTAKE_SETTINGS, compact, post_shopify, sample
from tests.backorders.platform_fakes import BC_HASH, platforms  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SS_TOKEN = "ss-url-token-0123456789"
BC_SECRET = "bc-shared-secret-0123456789"
Status = WebhookDelivery.Status


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.SHIPSTATION_WEBHOOK_SECRET = SS_TOKEN
    settings.BIGCOMMERCE_WEBHOOK_SECRET = BC_SECRET


def applied(response) -> WebhookDelivery:
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    if delivery.status == Status.RECEIVED:
        process_delivery(delivery.pk)
    delivery.refresh_from_db()
    return delivery


# --------------------------------------------------------------------------- ShipStation


def ship_notify(client, url: str, token: str = SS_TOKEN):
    body = compact({"resource_url": url, "resource_type": "SHIP_NOTIFY"})
    path = "/webhooks/shipstation/" + (f"?token={token}" if token else "")
    return client.post(path, data=body, content_type="application/json")


def shipment(number: str, tracking: str, **fields) -> dict:
    """One shipment as ShipStation's List Shipments answers it."""
    return {
        "shipmentId": 33974374 + len(tracking),
        "orderId": 43945660,
        "orderKey": "8061c220f0794a9b92460b8bae6837e4",
        "orderNumber": number,
        "createDate": "2026-09-01T06:51:33.6270000",
        "shipDate": "2026-09-01",
        "shipmentCost": 1.93,
        "trackingNumber": tracking,
        "isReturnLabel": False,
        "carrierCode": "stamps_com",
        "serviceCode": "usps_first_class_mail",
        "voided": False,
        "voidDate": None,
        "shipTo": {"name": "Ada Lovelace", "postalCode": "94103", "country": "US"},
        **fields,
    }


def test_shipstation_refuses_a_wrong_or_missing_token_with_401_and_keeps_the_attempt(client, settings):
    response = ship_notify(client, "https://ssapi.shipstation.com/shipments?batchId=1", token="wrong")
    assert response.status_code == 401 and b"does not match" in response.content
    response = ship_notify(client, "https://ssapi.shipstation.com/shipments?batchId=1", token="")
    assert response.status_code == 401
    settings.SHIPSTATION_WEBHOOK_SECRET = ""
    response = ship_notify(client, "https://ssapi.shipstation.com/shipments?batchId=1")
    assert response.status_code == 401 and b"SHIPSTATION_WEBHOOK_SECRET is not set" in response.content
    kept = WebhookDelivery.objects.filter(source="shipstation")
    assert [d.status for d in kept] == [Status.REJECTED] * 3 and all(d.body == b"" for d in kept)


def test_shipstation_records_every_page_of_shipments_with_carrier_and_tracking(client, platforms):  # noqa: F811
    order = factories.OrderFactory(number="#1042", channel="shopify", shipping_country="US")
    platforms.shipments = [
        shipment("1042", "9400111899223197428490"),
        shipment("1042", "1Z999AA10123456784", carrierCode="ups"),
        shipment("1042", "9400111899223197000000", voided=True),
    ]
    delivery = applied(ship_notify(client, f"{platforms.url}/shipments?batchId=100301&includeShipmentItems=False"))
    assert delivery.status == Status.PROCESSED, delivery.error
    kept = {s.tracking_number: s for s in Shipment.objects.filter(order=order)}
    assert set(kept) == {"9400111899223197428490", "1Z999AA10123456784"}  # the voided label is skipped
    assert kept["1Z999AA10123456784"].carrier == "ups" and kept["9400111899223197428490"].carrier == "stamps_com"
    # 06:51 Pacific (daylight time) is 13:51 UTC
    assert kept["1Z999AA10123456784"].label_created_at == datetime(2026, 9, 1, 13, 51, 33, 627000, tzinfo=UTC)
    pages = [r.query for r in platforms.calls("GET", "/shipments")]
    assert pages == [
        "batchId=100301&includeShipmentItems=False",
        *(f"batchId=100301&includeShipmentItems=False&page={n}" for n in (2, 3)),
    ]


def test_shipstation_never_sends_its_keys_to_a_host_other_than_its_api(client, platforms):  # noqa: F811
    delivery = applied(ship_notify(client, "http://169.254.169.254/latest/meta-data?page=1"))
    assert delivery.status == Status.FAILED
    assert "not on ShipStation's configured API host" in delivery.error
    assert platforms.requests == []


def test_a_shipment_before_its_order_waits_then_applies_when_the_order_arrives(client, platforms):  # noqa: F811
    platforms.shipments = [shipment("2001", "TRACK2001")]
    delivery = applied(ship_notify(client, f"{platforms.url}/shipments?batchId=2"))
    assert delivery.status == Status.WAITING and delivery.waiting_for == "order_number:2001"
    factories.OrderFactory(number="2001")
    assert process_delivery(delivery.pk) == Status.PROCESSED
    assert Shipment.objects.get().tracking_number == "TRACK2001"


def test_shipstation_down_makes_the_delivery_wait_and_a_replay_applies_it(client, platforms):  # noqa: F811
    factories.OrderFactory(number="3001")
    platforms.shipments = [shipment("3001", "TRACK3001")]
    platforms.fail_next("GET", 503)
    delivery = applied(ship_notify(client, f"{platforms.url}/shipments?batchId=3"))
    assert delivery.status == Status.WAITING and "ShipStation answered 503" in delivery.error
    call_command("replay_webhooks", "--id", str(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == Status.PROCESSED and Shipment.objects.get().tracking_number == "TRACK3001"


def test_a_resent_notification_is_kept_as_a_duplicate_and_applied_once(client, platforms):  # noqa: F811
    factories.OrderFactory(number="4001")
    platforms.shipments = [shipment("4001", "TRACK4001")]
    first = applied(ship_notify(client, f"{platforms.url}/shipments?batchId=4"))
    again = ship_notify(client, f"{platforms.url}/shipments?batchId=4").json()
    assert first.status == Status.PROCESSED and again["duplicate"] is True
    assert len(platforms.calls("GET", "/shipments")) == 1


# --------------------------------------------------------------------------- BigCommerce


def bc_hook(client, scope: str, resource_id: int, *, secret: str = BC_SECRET, **data):
    body = {
        "scope": scope,
        "store_id": "1025646",
        "data": {"type": scope.split("/")[1], "id": resource_id, **data},
        "hash": "352e4afc6dd3fc85ea26bfdf3f91852604d57528",
        "created_at": 1790000000,
        "producer": f"stores/{BC_HASH}",
    }
    headers = {"X-Webhook-Secret": secret} if secret else {}
    return client.post("/webhooks/bigcommerce/", data=compact(body), content_type="application/json", headers=headers)


def bc_order(platforms, order_id: int, *, status_id: int = 11, sku: str = "IPOD2008PINK", quantity: int = 1):  # noqa: F811
    """An order as the V2 orders API answers it, with its products and shipping address."""
    platforms.bc_orders[order_id] = {
        "id": order_id,
        "customer_id": 11,
        "date_created": "Thu, 03 Sep 2026 14:00:00 +0000",
        "date_modified": "Thu, 03 Sep 2026 14:15:00 +0000",
        "status_id": status_id,
        "status": "Awaiting Fulfillment",
        "subtotal_inc_tax": "199.00",
        "total_inc_tax": "209.00",
        "currency_code": "USD",
        "payment_status": "captured",
        "billing_address": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": ""},
        "products": {"url": f"/v2/orders/{order_id}/products", "resource": f"/orders/{order_id}/products"},
        "_shipping": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "city": "San Francisco",
            "state": "California",
            "zip": "94103",
            "country_iso2": "US",
            "shipping_method": "Free Shipping",
        },
    }
    platforms.bc_products[order_id] = [
        {
            "id": 64,
            "order_id": order_id,
            "product_id": 77,
            "variant_id": 1,
            "name": "iPod Nano - 8GB",
            "sku": sku,
            "quantity": quantity,
            "base_price": "199.0000",
            "price_inc_tax": "199.0000",
            "quantity_shipped": 0,
        }
    ]


def test_bigcommerce_refuses_a_missing_or_wrong_secret_header(client):
    assert bc_hook(client, "store/order/created", 1, secret="").status_code == 401
    response = bc_hook(client, "store/order/created", 1, secret="nope")
    assert response.status_code == 401 and b"does not match" in response.content
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Status.REJECTED}


def test_bigcommerce_order_webhook_fetches_the_order_and_maps_it(client, platforms):  # noqa: F811
    bc_order(platforms, 250)
    delivery = applied(bc_hook(client, "store/order/created", 250))
    assert delivery.status == Status.PROCESSED, delivery.error
    order = Order.objects.get(channel="bigcommerce")
    assert (order.external_id, order.number, str(order.total), order.shipping_postal_code) == (
        "250",
        "250",
        "209.00",
        "94103",
    )
    assert order.customer.email == "ada@example.com" and order.placed_at == datetime(2026, 9, 3, 14, tzinfo=UTC)
    assert platforms.calls("GET", f"/stores/{BC_HASH}/v2/orders/250")[0].headers["x-auth-token"] == "bc-token"
    platforms.bc_orders[250].update(status_id=5, status="Cancelled", date_modified="Thu, 03 Sep 2026 15:00:00 +0000")
    assert applied(bc_hook(client, "store/order/statusUpdated", 250)).status == Status.PROCESSED
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def test_bigcommerce_inventory_webhook_counts_each_variant(client, platforms):  # noqa: F811
    platforms.bc_catalog[77] = {
        "id": 77,
        "name": "iPod Nano",
        "sku": "IPOD",
        "price": 199.0,
        "inventory_tracking": "variant",
        "inventory_level": 9,
        "date_modified": "2026-09-03T14:00:00+00:00",
        "variants": [
            {"id": 1, "product_id": 77, "sku": "IPOD2008PINK", "inventory_level": 4},
            {"id": 2, "product_id": 77, "sku": "IPOD2008BLUE", "inventory_level": 0},
        ],
    }
    factories.ProductFactory(sku="IPOD2008PINK", on_hand=0)
    delivery = applied(
        bc_hook(
            client,
            "store/product/inventory/updated",
            77,
            inventory={"product_id": 77, "method": "absolute", "value": 4},
        )
    )
    assert delivery.status == Status.PROCESSED, delivery.error
    assert dict(Product.objects.values_list("sku", "on_hand")) == {"IPOD2008PINK": 4, "IPOD2008BLUE": 0}


# --------------------------------------------------------------------------- Magento


def mg_order(entity_id: int, updated_at: str, *, sku: str = "IPOD2008PINK", status: str = "processing") -> dict:
    """An order as ``GET /rest/V1/orders`` lists it (the fields the desk reads)."""
    return {
        "entity_id": entity_id,
        "increment_id": f"000000{entity_id}",
        "created_at": "2026-09-03 14:00:00",
        "updated_at": updated_at,
        "status": status,
        "state": status,
        "order_currency_code": "USD",
        "subtotal": 199,
        "grand_total": 209,
        "customer_email": "ada@example.com",
        "customer_firstname": "Ada",
        "customer_lastname": "Lovelace",
        "shipping_description": "Flat Rate - Fixed",
        "billing_address": {"telephone": "+1 415 555 0100"},
        "items": [
            {
                "item_id": entity_id * 10,
                "sku": sku,
                "name": "iPod Nano",
                "qty_ordered": 1,
                "qty_shipped": 0,
                "price": 199,
                "price_incl_tax": 199,
                "product_type": "configurable",
            },
            {
                "item_id": entity_id * 10 + 1,
                "parent_item_id": entity_id * 10,
                "sku": sku,
                "name": "iPod Nano Pink",
                "qty_ordered": 1,
                "qty_shipped": 0,
                "price": 0,
                "product_type": "simple",
            },
        ],
        "extension_attributes": {
            "shipping_assignments": [
                {
                    "shipping": {
                        "address": {
                            "firstname": "Ada",
                            "lastname": "Lovelace",
                            "city": "San Francisco",
                            "region": "California",
                            "postcode": "94103",
                            "country_id": "US",
                        }
                    }
                }
            ]
        },
    }


def process_all() -> list[WebhookDelivery]:
    for delivery in WebhookDelivery.objects.filter(source="magento", status=Status.RECEIVED).order_by("pk"):
        process_delivery(delivery.pk)
    return list(WebhookDelivery.objects.filter(source="magento").order_by("pk"))


def test_sync_magento_pulls_every_page_and_a_rerun_adds_nothing(platforms, capsys):  # noqa: F811
    platforms.mg_orders = [mg_order(n, f"2026-09-03 14:0{n}:00") for n in (1, 2, 3)]
    platforms.mg_source_items = [
        {"sku": "IPOD2008PINK", "source_code": "default", "quantity": 2, "status": 1},
        {"sku": "IPOD2008PINK", "source_code": "east", "quantity": 1, "status": 1},
        {"sku": "IPOD2008PINK", "source_code": "closed", "quantity": 50, "status": 0},
    ]
    call_command("sync_magento")
    assert "3 order(s) and 1 stock level(s) kept and queued" in capsys.readouterr().out
    kept = process_all()
    assert [d.status for d in kept] == [Status.PROCESSED] * 4, [d.error for d in kept]
    assert sorted(Order.objects.filter(channel="magento").values_list("number", flat=True)) == [
        "0000001",
        "0000002",
        "0000003",
    ]
    assert OrderLine.objects.filter(order__channel="magento").count() == 3  # configurable children not doubled
    assert Product.objects.get(sku="IPOD2008PINK").on_hand == 3
    assert all(r.headers["authorization"] == "Bearer magento-integration-token" for r in platforms.requests)

    call_command("sync_magento")
    assert "0 order(s) and 0 stock level(s) kept and queued" in capsys.readouterr().out
    assert WebhookDelivery.objects.filter(source="magento").count() == 4
    since = parse_qs([r.query for r in platforms.calls("GET", "/rest/V1/orders")][-1])
    assert since["searchCriteria[filter_groups][0][filters][0][value]"] == ["2026-09-03 14:03:00"]  # the cursor

    WebhookDelivery.objects.filter(source="magento").delete()  # as intake.prune_deliveries does after a while
    call_command("sync_magento", "--no-stock")
    # the orders keep the cursor: only the order updated at the cursor's own second is read again
    assert "1 order(s) and 0 stock level(s)" in capsys.readouterr().out

    platforms.mg_orders[0] = mg_order(1, "2026-09-03 16:00:00", status="canceled")
    call_command("sync_magento", "--no-stock")
    process_all()
    assert Order.objects.get(external_id="1", channel="magento").status == Order.Status.CANCELLED


def test_sync_magento_says_what_is_missing_or_wrong(settings, platforms):  # noqa: F811
    settings.MAGENTO_ACCESS_TOKEN = "wrong"
    with pytest.raises(CommandError, match="Magento refused GET /rest/V1/orders: 401"):
        call_command("sync_magento")
    settings.MAGENTO_URL = ""
    with pytest.raises(CommandError, match="set MAGENTO_URL and MAGENTO_ACCESS_TOKEN"):
        call_command("sync_magento")
    assert magento.pull_scheduled().startswith("Magento is not configured")


# --------------------------------------------------------------------------- the same cases as Shopify


def test_orders_from_each_platform_open_the_same_case_as_a_shopify_order(client, platforms):  # noqa: F811
    factories.ProductFactory(sku="IPOD2008PINK", shopify_variant_id="808950810", on_hand=0)
    shopify = sample("shopify-orders-create.json")
    shopify.update(cancelled_at=None, cancel_reason=None, financial_status="paid", line_items=shopify["line_items"][:1])
    shopify.update(created_at="2026-09-03T14:00:00Z", updated_at="2026-09-03T14:15:00Z")
    assert applied(post_shopify(client, "orders/create", compact(shopify), webhook_id="w-1")).status == Status.PROCESSED
    bc_order(platforms, 250)
    assert applied(bc_hook(client, "store/order/created", 250)).status == Status.PROCESSED
    platforms.mg_orders = [mg_order(7, "2026-09-03 14:15:00")]
    call_command("sync_magento", "--no-stock")
    assert [d.status for d in process_all()] == [Status.PROCESSED]

    run_sweep()
    cases = {c.order.channel: c for c in Case.objects.filter(order__isnull=False).select_related("order")}
    assert set(cases) == {"shopify", "bigcommerce", "magento"}
    shapes = {channel: (c.kind, c.category, c.status, c.dedupe_key.split(":")[0]) for channel, c in cases.items()}
    assert shapes["bigcommerce"] == shapes["shopify"] == shapes["magento"], shapes
    assert all(c.order.lines.get().state == OrderLine.State.BACKORDERED for c in cases.values())
    json.dumps(shapes)  # plain values, as the packet page shows them


def test_a_shipstation_label_goes_stale_like_a_shopify_fulfilment(client, platforms):  # noqa: F811
    now = datetime.now(UTC)
    shopify = sample("shopify-orders-create.json")
    shopify.update(cancelled_at=None, cancel_reason=None, financial_status="paid", line_items=shopify["line_items"][:1])
    assert applied(post_shopify(client, "orders/create", compact(shopify), webhook_id="w-1")).status == Status.PROCESSED
    labelled = (now - timedelta(days=6)).isoformat()
    fulfilment = sample("shopify-fulfillments-create.json")
    fulfilment.update(
        created_at=labelled, updated_at=labelled, tracking_number="1Z0SHOPIFY", tracking_numbers=["1Z0SHOPIFY"]
    )
    delivery = applied(post_shopify(client, "fulfillments/create", compact(fulfilment), webhook_id="w-2"))
    assert delivery.status == Status.PROCESSED, delivery.error
    factories.OrderFactory(number="5001", placed_at=now - timedelta(days=8))
    pacific_label = (now - timedelta(days=6)).astimezone(ZoneInfo("America/Los_Angeles")).replace(tzinfo=None)
    platforms.shipments = [shipment("5001", "1Z0SHIPSTATION", carrierCode="ups", createDate=pacific_label.isoformat())]
    assert applied(ship_notify(client, f"{platforms.url}/shipments?batchId=5")).status == Status.PROCESSED

    run_sweep()
    cases = {
        c.shipment.tracking_number: c for c in Case.objects.filter(shipment__isnull=False).select_related("shipment")
    }
    assert set(cases) == {"1Z0SHOPIFY", "1Z0SHIPSTATION"}
    shapes = {number: (c.kind, c.category, c.status) for number, c in cases.items()}
    assert shapes["1Z0SHIPSTATION"] == shapes["1Z0SHOPIFY"] and shapes["1Z0SHOPIFY"][0] == "stale_tracking", shapes
