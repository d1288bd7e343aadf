"""WooCommerce webhooks: verify, answer the creation ping, and map orders and product stock.

Bodies are REST v3 resources. The delivery id changes on every attempt, so deliveries are
recognised by their body, and versions by ``date_modified_gmt`` (UTC without an offset).
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest

from ..allocation import apply_stock_count
from ..channel_stock.levels import desk_is_source, report_channel_stock
from ..hooks import stock_may_change
from ..models import Channel, ChannelStock, Order, Product, WebhookDelivery
from . import batch_state
from .common import MappingError, ext_id, matches_base64_hmac, text, to_datetime, to_decimal, to_int
from .orders import CustomerFacts, LineFacts, OrderFacts, upsert_order
from .outcome import Outcome, newer_version_applied

SOURCE = WebhookDelivery.Source.WOOCOMMERCE

ORDER_STATUS = {
    "pending": Order.Status.OPEN,
    "processing": Order.Status.OPEN,
    "on-hold": Order.Status.OPEN,
    "completed": Order.Status.FULFILLED,
    "cancelled": Order.Status.CANCELLED,
    "refunded": Order.Status.CANCELLED,
    "failed": Order.Status.CANCELLED,
    "trash": Order.Status.CANCELLED,
}

PAYMENT_STATE = {
    "pending": Order.PaymentState.PENDING,
    "on-hold": Order.PaymentState.PENDING,
    "failed": Order.PaymentState.VOIDED,
    "cancelled": Order.PaymentState.VOIDED,
    "refunded": Order.PaymentState.REFUNDED,
}


def verify(request: HttpRequest) -> bool:
    secret = settings.WOOCOMMERCE_WEBHOOK_SECRET
    return bool(secret) and matches_base64_hmac(
        [secret], request.body, request.headers.get("X-WC-Webhook-Signature", "")
    )


def is_ping(request: HttpRequest) -> bool:
    """The unsigned ``webhook_id=N`` form body WooCommerce sends when a webhook is saved."""
    if request.headers.get("X-WC-Webhook-Signature") or len(request.body) > 64:
        return False
    try:
        form = parse_qs(request.body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return list(form) == ["webhook_id"] and len(form["webhook_id"]) == 1 and form["webhook_id"][0].isdigit()


def delivery_keys(request: HttpRequest, payload: dict) -> dict:
    topic = request.headers.get("X-WC-Webhook-Topic", "").strip()
    try:
        resource_id = f"{topic.split('.', 1)[0]}:{ext_id(payload.get('id'))}"
        updated_at = to_datetime(payload.get("date_modified_gmt"), field="date_modified_gmt")
    except MappingError:
        resource_id, updated_at = "", None
    # the delivery id is new on every attempt, so it is no key: the body hash recognises a re-send
    return {"topic": topic, "delivery_id": "", "resource_id": resource_id, "resource_updated_at": updated_at}


def order_facts(p: dict) -> OrderFacts:
    status = text(p.get("status"), 32)
    if status not in ORDER_STATUS:
        raise MappingError(f"order status {status!r} is not one WooCommerce documents")
    updated_at = to_datetime(p.get("date_modified_gmt"), field="date_modified_gmt")
    lines = []
    for li in p.get("line_items") or []:
        variation = ext_id(li.get("variation_id"))
        product_id = variation if variation not in ("", "0") else ext_id(li.get("product_id"))
        lines.append(
            LineFacts(
                external_id=ext_id(li.get("id")),
                sku=text(li.get("sku"), 128),
                title=text(li.get("name"), 255),
                quantity=to_int(li.get("quantity"), field="line_items.quantity"),
                unit_price=to_decimal(li.get("price"), field="line_items.price"),
                woocommerce_id="" if product_id == "0" else product_id,
                fulfilled=status == "completed",
            )
        )
    if any(not lf.external_id for lf in lines):
        raise MappingError("a line item has no id")
    billing, shipping = p.get("billing") or {}, p.get("shipping") or {}
    shipping_lines = p.get("shipping_lines") or [{}]
    subtotal = sum(
        (to_decimal(li.get("subtotal"), field="line_items.subtotal") for li in p.get("line_items") or []),
        Decimal("0.00"),
    )
    cancelled = ORDER_STATUS[status] == Order.Status.CANCELLED
    return OrderFacts(
        channel=Channel.WOOCOMMERCE,
        external_id=ext_id(p.get("id")),
        number=text(p.get("number") or p.get("id"), 64),
        placed_at=to_datetime(p.get("date_created_gmt"), field="date_created_gmt", required=True),
        updated_at=updated_at,
        status=ORDER_STATUS[status],
        cancelled_at=updated_at if cancelled else None,
        payment_state=PAYMENT_STATE.get(status, Order.PaymentState.PAID),
        currency=text(p.get("currency"), 3) or "USD",
        subtotal=subtotal,
        total=to_decimal(p.get("total"), field="total"),
        shipping_method=text(shipping_lines[0].get("method_title"), 128),
        shipping_name=" ".join(x for x in (shipping.get("first_name"), shipping.get("last_name")) if x),
        shipping_city=text(shipping.get("city"), 128),
        shipping_region=text(shipping.get("state"), 64),
        shipping_postal_code=text(shipping.get("postcode"), 32),
        shipping_country=text(shipping.get("country"), 2),
        customer=CustomerFacts(
            email=text(billing.get("email"), 254),
            name=" ".join(x for x in (billing.get("first_name"), billing.get("last_name")) if x),
            phone=text(billing.get("phone"), 32),
            woocommerce_id="" if not p.get("customer_id") else ext_id(p.get("customer_id")),
        ),
        lines=lines,
    )


def handle_order(delivery: WebhookDelivery, p: dict) -> Outcome:
    facts = order_facts(p)
    delivery.resource_id, delivery.resource_updated_at = f"order:{facts.external_id}", facts.updated_at
    result = upsert_order(facts)
    if not result.applied:
        return Outcome.ignored(result.reason)
    note = f"order {result.order.number}"
    if result.unknown_skus:
        note += "; new products for unknown SKUs: " + ", ".join(result.unknown_skus)
    return Outcome(note=note)


VARIATION_URL = re.compile(r"/products/(\d+)/variations/(\d+)/?$")


def parent_of(p: dict, woo_id: str) -> str:
    """A variation's parent product: ``parent_id`` in the product payload, or its own link under the
    parent (``_links.self``, ``.../products/<parent>/variations/<id>``). Empty for a product of its own."""
    parent = ext_id(p.get("parent_id"))
    if parent not in ("", "0"):
        return parent
    links = p.get("_links") if isinstance(p.get("_links"), dict) else {}
    own = links.get("self") if isinstance(links.get("self"), list) else []
    for link in own:
        match = VARIATION_URL.search(str(link.get("href", ""))) if isinstance(link, dict) else None
        if match and match.group(2) == woo_id:
            return match.group(1)
    return ""


def handle_product(delivery: WebhookDelivery, p: dict) -> Outcome:
    woo_id = ext_id(p.get("id"))
    if not woo_id:
        raise MappingError("the product has no id")
    sku = text(p.get("sku"), 128)
    found = Product.objects.filter(Q(woocommerce_id=woo_id) | (Q(sku=sku) if sku else Q(pk__in=[])))
    locked = list(found.select_for_update().order_by("pk"))
    updated_at = to_datetime(p.get("date_modified_gmt"), field="date_modified_gmt")
    if newer_version_applied(delivery, f"product:{woo_id}", updated_at):
        return Outcome.ignored("a newer version of this product was already applied")
    product = next((x for x in locked if x.woocommerce_id == woo_id), None) or (locked[0] if locked else None)
    if product is None:
        product = Product(sku=sku or f"woocommerce-{woo_id}", on_hand=0)
    elif sku and product.sku != sku and not Product.objects.filter(sku=sku).exclude(pk=product.pk).exists():
        product.sku = sku
    product.woocommerce_id = woo_id
    parent = parent_of(p, woo_id)
    if parent or p.get("type") in ("simple", "variable", "grouped", "external"):
        product.woocommerce_parent_id = parent  # a variation's parent; none for a product of its own
    product.title = text(p.get("name"), 255) or product.title or product.sku
    product.price = to_decimal(p.get("price"), field="price", default=product.price)
    backorders = p.get("backorders")
    if backorders == "no":
        product.backorder_mode = Product.BackorderMode.DENY
    elif backorders in ("notify", "yes") and product.backorder_mode == Product.BackorderMode.DENY:
        product.backorder_mode = Product.BackorderMode.BACKORDER  # a pre-order product stays one
    product.save()
    quantity = p.get("stock_quantity")
    if not p.get("manage_stock") or quantity is None:
        return Outcome(note=f"{product.sku}: stock not managed in WooCommerce ({p.get('stock_status') or 'no status'})")
    reported = to_int(quantity, field="stock_quantity")
    report_channel_stock(product, ChannelStock.Platform.WOOCOMMERCE, reported)
    if desk_is_source():
        stock_may_change([product.pk])  # the desk compares the channel's number with its own
        return Outcome(note=f"{product.sku}: WooCommerce reports {reported} in stock (the desk is the stock source)")
    count = max(0, reported)  # negative when WooCommerce took backorders
    apply_stock_count(product.pk, count, reference=f"woocommerce product {woo_id}")
    return Outcome(note=f"{product.sku}: on hand counted at {count} ({p.get('stock_status') or 'no status'})")


HANDLERS = {
    "order.created": handle_order,
    "order.updated": handle_order,
    "order.restored": handle_order,
    "product.created": handle_product,
    "product.updated": handle_product,
    "product.restored": handle_product,
}


def handle(delivery: WebhookDelivery, payload: dict) -> Outcome:
    handler = HANDLERS.get(delivery.topic)
    if handler is None:
        return Outcome.ignored(f"topic {delivery.topic or '(none)'} is not one Backorder Desk uses")
    with batch_state.atomic():
        return handler(delivery, payload)
