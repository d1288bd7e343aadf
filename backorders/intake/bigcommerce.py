"""BigCommerce webhooks: orders and inventory, fetched from the V2 orders and V3 catalog APIs.

BigCommerce webhooks carry no resource and no HMAC: only ``{scope, store_id, data: {type, id},
hash, created_at, producer}``. Each is registered with a custom header holding a shared secret
(``headers: {"X-Webhook-Secret": <BIGCOMMERCE_WEBHOOK_SECRET>}``), compared in constant time. The
worker fetches the resource with ``X-Auth-Token`` from the store's API (``platform_api``): an
order from ``/v2/orders/{id}`` with its products and shipping address, applied through the same
``upsert_order`` as Shopify's; a product's stock from ``/v3/catalog/products/{id}?include=variants``,
counted per SKU (per variant when BigCommerce tracks stock by variant). What is fetched is the
resource as it is now, so a late or repeated notification applies the current state, never an old one.
"""

from __future__ import annotations

import hmac
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from ..models import Channel, Order, WebhookDelivery
from . import platform_api
from .common import MappingError, ext_id, text, to_datetime, to_decimal, to_int
from .orders import CustomerFacts, LineFacts, OrderFacts, upsert_order
from .outcome import Outcome
from .stock_counts import count_sku

SOURCE = WebhookDelivery.Source.BIGCOMMERCE
HEADER = "X-Webhook-Secret"

S, P = Order.Status, Order.PaymentState
# status_id: (order status, payment state), from BigCommerce's order status list
STATUS = {
    1: (S.OPEN, P.PENDING),  # Pending
    2: (S.FULFILLED, P.PAID),  # Shipped
    3: (S.OPEN, P.PAID),  # Partially Shipped
    4: (S.CANCELLED, P.REFUNDED),  # Refunded
    5: (S.CANCELLED, P.VOIDED),  # Cancelled
    6: (S.CANCELLED, P.VOIDED),  # Declined
    7: (S.OPEN, P.PENDING),  # Awaiting Payment
    8: (S.OPEN, P.PAID),  # Awaiting Pickup
    9: (S.OPEN, P.PAID),  # Awaiting Shipment
    10: (S.FULFILLED, P.PAID),  # Completed
    11: (S.OPEN, P.PAID),  # Awaiting Fulfillment
    12: (S.OPEN, P.PENDING),  # Manual Verification Required
    13: (S.OPEN, P.PAID),  # Disputed
    14: (S.OPEN, P.PARTIALLY_REFUNDED),  # Partially Refunded
}


def verify(request: HttpRequest) -> bool:
    secret, given = settings.BIGCOMMERCE_WEBHOOK_SECRET, request.headers.get(HEADER, "")
    return bool(secret) and bool(given) and hmac.compare_digest(secret.encode(), given.encode())


def delivery_keys(payload: dict) -> dict:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    try:
        resource = f"{text(data.get('type'), 16)}:{ext_id(data.get('id'))}"
    except MappingError:
        resource = ""
    # a retry re-sends the same body: recognised by its hash
    return {"topic": text(payload.get("scope"), 64), "delivery_id": "", "resource_id": resource}


def rfc2822(value, *, field: str):
    """BigCommerce V2 dates (``Tue, 20 Nov 2012 00:00:00 +0000``); ISO 8601 is read too."""
    if value in (None, ""):
        return None
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return to_datetime(value, field=field)


def order_facts(order: dict, products: list, addresses: list) -> OrderFacts:
    status_id = to_int(order.get("status_id"), field="status_id")
    status, payment = STATUS[status_id]
    updated_at = rfc2822(order.get("date_modified"), field="date_modified")
    lines = [
        LineFacts(
            external_id=ext_id(p.get("id")),
            sku=text(p.get("sku"), 128),
            title=text(p.get("name"), 255),
            quantity=to_int(p.get("quantity"), field="products.quantity"),
            unit_price=to_decimal(p.get("price_inc_tax") or p.get("base_price"), field="products.price_inc_tax"),
            fulfilled=status == S.FULFILLED
            or to_int(p.get("quantity_shipped") or 0, field="quantity_shipped")
            >= to_int(p.get("quantity"), field="products.quantity"),
        )
        for p in products
        if isinstance(p, dict)
    ]
    billing = order.get("billing_address") or {}
    ship = addresses[0] if addresses and isinstance(addresses[0], dict) else {}
    return OrderFacts(
        channel=Channel.BIGCOMMERCE,
        external_id=ext_id(order.get("id")),
        number=text(order.get("id"), 64),
        placed_at=rfc2822(order.get("date_created"), field="date_created") or updated_at,
        updated_at=updated_at,
        status=status,
        cancelled_at=updated_at if status == S.CANCELLED else None,
        payment_state=payment,
        currency=text(order.get("currency_code"), 3) or "USD",
        subtotal=to_decimal(order.get("subtotal_inc_tax"), field="subtotal_inc_tax"),
        total=to_decimal(order.get("total_inc_tax"), field="total_inc_tax"),
        shipping_method=text(ship.get("shipping_method"), 128),
        shipping_name=" ".join(x for x in (ship.get("first_name"), ship.get("last_name")) if x),
        shipping_city=text(ship.get("city"), 128),
        shipping_region=text(ship.get("state"), 64),
        shipping_postal_code=text(ship.get("zip"), 32),
        shipping_country=text(ship.get("country_iso2"), 2),
        customer=CustomerFacts(
            email=text(billing.get("email"), 254),
            name=" ".join(x for x in (billing.get("first_name"), billing.get("last_name")) if x),
            phone=text(billing.get("phone"), 32),
        ),
        lines=lines,
    )


def handle_order(delivery: WebhookDelivery, order_id: str) -> Outcome:
    api = platform_api.bigcommerce()
    order = platform_api.call(api, "GET", f"/v2/orders/{order_id}")
    if not isinstance(order, dict):
        raise MappingError(f"BigCommerce answered no order for id {order_id}")
    if to_int(order.get("status_id"), field="status_id") not in STATUS:
        return Outcome.ignored(f"order {order_id} is {order.get('status') or 'incomplete'}: not placed yet")
    products = platform_api.call(api, "GET", f"/v2/orders/{order_id}/products", params={"limit": 250}) or []
    addresses = platform_api.call(api, "GET", f"/v2/orders/{order_id}/shipping_addresses") or []
    facts = order_facts(order, products, addresses)
    delivery.resource_id, delivery.resource_updated_at = f"order:{facts.external_id}", facts.updated_at
    with transaction.atomic():
        result = upsert_order(facts)
    if not result.applied:
        return Outcome.ignored(result.reason)
    note = f"order {result.order.number}"
    if result.unknown_skus:
        note += "; new products for unknown SKUs: " + ", ".join(result.unknown_skus)
    return Outcome(note=note)


def handle_inventory(delivery: WebhookDelivery, product_id: str) -> Outcome:
    api = platform_api.bigcommerce()
    answer = platform_api.call(api, "GET", f"/v3/catalog/products/{product_id}", params={"include": "variants"})
    product = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(product, dict):
        raise MappingError(f"BigCommerce answered no product for id {product_id}")
    delivery.resource_id = f"product:{product_id}"
    tracking = text(product.get("inventory_tracking"), 16)
    if tracking == "none":
        return Outcome.ignored(f"product {product_id}: BigCommerce does not track its stock")
    price = to_decimal(product.get("price"), field="price")
    counts = [(product.get("sku"), product.get("inventory_level"))]
    if tracking == "variant":
        counts = [
            (v.get("sku"), v.get("inventory_level")) for v in product.get("variants") or [] if isinstance(v, dict)
        ]
    reference = f"bigcommerce product {product_id}"
    with transaction.atomic():
        notes = [
            count_sku(text(sku, 128), level, title=text(product.get("name"), 255), price=price, reference=reference)
            for sku, level in counts
        ]
    return Outcome(note="; ".join(notes) or f"product {product_id}: no SKUs")


def handle(delivery: WebhookDelivery, payload: dict) -> Outcome:
    scope = text(payload.get("scope"), 64)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise MappingError("a BigCommerce webhook carries the resource under data")
    if scope.startswith("store/order/") and scope != "store/order/message/created":
        return handle_order(delivery, ext_id(data.get("id")))
    if scope.startswith(("store/product/inventory/", "store/sku/inventory/")):
        inventory = data.get("inventory") if isinstance(data.get("inventory"), dict) else {}
        product_id = ext_id(inventory.get("product_id") or data.get("id"))
        return handle_inventory(delivery, product_id)
    return Outcome.ignored(f"scope {scope or '(none)'} is not one Backorder Desk uses")
