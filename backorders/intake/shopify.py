"""Shopify webhooks: verify, and map each topic's payload to the store's facts.

Payloads are taken as Shopify publishes them: ``sku`` and ``variant_id`` may be null, ids pass
2**53 (parsed as exact integers, kept as text), ``shipment_status`` may be null or a value this
code has never seen (it becomes ``unknown``). ``inventory_levels/update`` names only an inventory
item, so products/create|update teach which product that is; it reports one location, so each
location's level is kept and the variant's stock is their sum over the selling locations
(``channel_stock.levels``).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest

from ..allocation import apply_stock_count
from ..channel_stock.levels import desk_is_source, record_shopify_level
from ..hooks import stock_may_change
from ..models import Channel, Order, Product, Shipment, TrackingStatus, WebhookDelivery
from . import batch_state
from .common import MappingError, ext_id, matches_base64_hmac, text, to_datetime, to_decimal, to_int
from .orders import CustomerFacts, LineFacts, OrderFacts, upsert_order
from .outcome import Outcome, newer_version_applied
from .tracking import EventFacts, location_text, record_events
from .waiting import MissingFact

SOURCE = WebhookDelivery.Source.SHOPIFY

SHIPMENT_STATUS = {
    "label_printed": TrackingStatus.LABEL_CREATED,
    "label_purchased": TrackingStatus.LABEL_CREATED,
    "confirmed": TrackingStatus.LABEL_CREATED,
    "carrier_picked_up": TrackingStatus.ACCEPTED,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "delayed": TrackingStatus.EXCEPTION,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "attempted_delivery": TrackingStatus.ATTEMPTED,
    "ready_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "picked_up": TrackingStatus.DELIVERED,
    "delivered": TrackingStatus.DELIVERED,
    "failure": TrackingStatus.EXCEPTION,
}

PAYMENT_STATE = {
    "pending": Order.PaymentState.PENDING,
    "authorized": Order.PaymentState.AUTHORIZED,
    "partially_paid": Order.PaymentState.PENDING,
    "paid": Order.PaymentState.PAID,
    "partially_refunded": Order.PaymentState.PARTIALLY_REFUNDED,
    "refunded": Order.PaymentState.REFUNDED,
    "voided": Order.PaymentState.VOIDED,
    "expired": Order.PaymentState.VOIDED,
}


def shipment_status(raw) -> str:
    return SHIPMENT_STATUS.get(str(raw or "").strip().lower(), TrackingStatus.UNKNOWN)


def shopify_header(request: HttpRequest, name: str) -> str:
    """A Shopify header by its name after the prefix: ``X-Shopify-<name>``, or ``Shopify-<name>`` as newer
    deliveries (events, and webhooks from API versions that drop the ``X-``) send it."""
    return request.headers.get(f"X-Shopify-{name}") or request.headers.get(f"Shopify-{name}") or ""


def verify(request: HttpRequest) -> bool:
    return matches_base64_hmac(settings.SHOPIFY_WEBHOOK_SECRETS, request.body, shopify_header(request, "Hmac-Sha256"))


def delivery_keys(request: HttpRequest, payload: dict) -> dict:
    """What the view stores beside the body: topic, the webhook id, and the resource's id and version."""
    topic = shopify_header(request, "Topic").strip()
    resource = topic.split("/", 1)[0].rstrip("s") if topic else ""
    rid = payload.get("id") if "id" in payload else payload.get("inventory_item_id")
    try:
        resource_id = f"{resource}:{ext_id(rid)}" if rid is not None else ""
        updated_at = to_datetime(payload.get("updated_at"), field="updated_at")
    except MappingError:
        resource_id, updated_at = "", None  # the worker reports it properly
    return {
        "topic": topic,
        "delivery_id": shopify_header(request, "Webhook-Id").strip(),
        "resource_id": resource_id,
        "resource_updated_at": updated_at,
    }


# --------------------------------------------------------------------------- orders


def order_facts(p: dict) -> OrderFacts:
    lines = []
    for li in p.get("line_items") or []:
        if li.get("gift_card"):
            continue
        quantity = to_int(li.get("quantity"), field="line_items.quantity")
        current = li.get("current_quantity")
        current = quantity if current is None else to_int(current, field="line_items.current_quantity")
        lines.append(
            LineFacts(
                external_id=ext_id(li.get("id")),
                sku=text(li.get("sku"), 128),
                title=text(li.get("title") or li.get("name"), 255),
                quantity=current if current > 0 else quantity,
                removed=current <= 0,
                fulfilled=li.get("fulfillment_status") == "fulfilled",
                unit_price=to_decimal(li.get("price"), field="line_items.price"),
                shopify_variant_id=ext_id(li.get("variant_id")),
                variant_title=text(li.get("variant_title"), 255),
            )
        )
    if any(not lf.external_id for lf in lines):
        raise MappingError("a line item has no id")
    updated_at = to_datetime(p.get("updated_at"), field="updated_at")
    cancelled_at = to_datetime(p.get("cancelled_at"), field="cancelled_at")
    if cancelled_at:
        status = Order.Status.CANCELLED
    elif p.get("fulfillment_status") == "fulfilled":
        status = Order.Status.FULFILLED
    elif p.get("closed_at"):
        status = Order.Status.CLOSED
    else:
        status = Order.Status.OPEN
    address = p.get("shipping_address") or {}
    customer = p.get("customer") or {}
    name = " ".join(x for x in (customer.get("first_name"), customer.get("last_name")) if x)
    shipping_lines = p.get("shipping_lines") or [{}]
    return OrderFacts(
        channel=Channel.SHOPIFY,
        external_id=ext_id(p.get("id")),
        number=text(p.get("name") or p.get("order_number"), 64),
        placed_at=to_datetime(p.get("created_at"), field="created_at", required=True),
        updated_at=updated_at,
        status=status,
        cancelled_at=cancelled_at,
        payment_state=PAYMENT_STATE.get(p.get("financial_status") or "pending", Order.PaymentState.PENDING),
        currency=text(p.get("currency"), 3) or "USD",
        subtotal=to_decimal(p.get("current_subtotal_price", p.get("subtotal_price")), field="subtotal_price"),
        total=to_decimal(p.get("current_total_price", p.get("total_price")), field="total_price"),
        shipping_method=text(shipping_lines[0].get("title"), 128),
        shipping_name=text(address.get("name"), 255),
        shipping_city=text(address.get("city"), 128),
        shipping_region=text(address.get("province_code") or address.get("province"), 64),
        shipping_postal_code=text(address.get("zip"), 32),
        shipping_country=text(address.get("country_code"), 2),
        customer=CustomerFacts(
            email=text(p.get("email") or p.get("contact_email") or customer.get("email"), 254),
            name=name or text(address.get("name"), 255),
            phone=text(customer.get("phone") or p.get("phone"), 32),
            orders_count=customer.get("orders_count") if isinstance(customer.get("orders_count"), int) else None,
            shopify_id=ext_id(customer.get("id")),
        ),
        lines=lines,
    )


def handle_order(delivery: WebhookDelivery, p: dict) -> Outcome:
    facts = order_facts(p)
    delivery.resource_id, delivery.resource_updated_at = f"order:{facts.external_id}", facts.updated_at
    if not facts.lines:
        return Outcome.ignored("the order has no line items that need stock (gift cards only)")
    result = upsert_order(facts)
    if not result.applied:
        return Outcome.ignored(result.reason)
    note = f"order {result.order.number}"
    if result.unknown_skus:
        note += "; new products for unknown SKUs: " + ", ".join(result.unknown_skus)
    return Outcome(note=note)


# --------------------------------------------------------------------------- products and stock


def handle_product(delivery: WebhookDelivery, p: dict) -> Outcome:
    product_id = ext_id(p.get("id"))
    if not product_id:
        raise MappingError("the product has no id")
    updated_at = to_datetime(p.get("updated_at"), field="updated_at")
    variants = p.get("variants") or []
    variant_ids = [ext_id(v.get("id")) for v in variants]
    if not all(variant_ids):
        raise MappingError("a variant has no id")
    skus = [text(v.get("sku"), 128) for v in variants if v.get("sku")]
    # lock what this product touches, in id order, then decide whether this version is the newest
    touched = Product.objects.filter(Q(shopify_variant_id__in=variant_ids) | Q(sku__in=skus))
    list(touched.select_for_update().order_by("pk").values_list("pk"))
    if newer_version_applied(delivery, f"product:{product_id}", updated_at):
        return Outcome.ignored("a newer version of this product was already applied")
    title = text(p.get("title"), 255) or "Untitled product"
    learned = []
    for v, variant_id in zip(variants, variant_ids, strict=True):
        learned.append(_apply_variant(product_id, title, v, variant_id).sku)
    return Outcome(note="variants: " + ", ".join(learned) if learned else "no variants")


def _apply_variant(product_id: str, title: str, v: dict, variant_id: str) -> Product:
    sku = text(v.get("sku"), 128)
    inventory_item_id = ext_id(v.get("inventory_item_id"))
    product = Product.objects.filter(shopify_variant_id=variant_id).first()
    if product is None and sku:
        product = Product.objects.filter(sku=sku).first()
    if product is None:
        product = Product(sku=sku or f"shopify-variant-{variant_id}", on_hand=0)
    elif sku and product.sku != sku and not Product.objects.filter(sku=sku).exclude(pk=product.pk).exists():
        product.sku = sku
    if inventory_item_id:
        # an inventory item belongs to one variant: take it from any product that held it before
        Product.objects.filter(shopify_inventory_item_id=inventory_item_id).exclude(pk=product.pk).update(
            shopify_inventory_item_id=""
        )
        product.shopify_inventory_item_id = inventory_item_id
    variant_title = text(v.get("title"), 255)
    product.title = title
    product.variant_title = "" if variant_title in ("", "Default Title") else variant_title
    product.price = to_decimal(v.get("price"), field="variants.price", default=product.price)
    product.shopify_product_id = product_id
    product.shopify_variant_id = variant_id
    policy = v.get("inventory_policy")
    if policy == "deny":
        product.backorder_mode = Product.BackorderMode.DENY
    elif policy == "continue" and product.backorder_mode == Product.BackorderMode.DENY:
        product.backorder_mode = Product.BackorderMode.BACKORDER
    product.save()
    return product


def handle_inventory_level(delivery: WebhookDelivery, p: dict) -> Outcome:
    item = ext_id(p.get("inventory_item_id"))
    location = ext_id(p.get("location_id"))
    if not item:
        raise MappingError("the inventory level has no inventory_item_id")
    product = Product.objects.select_for_update(no_key=True).filter(shopify_inventory_item_id=item).first()
    if product is None:
        raise MissingFact(
            "inventory_item",
            item,
            f"no product has Shopify inventory item {item} yet; a products/create or products/update delivery "
            f"names it (this one is applied when it arrives)",
        )
    updated_at = to_datetime(p.get("updated_at"), field="updated_at")
    if newer_version_applied(delivery, f"inventory_level:{item}:{location}", updated_at):
        return Outcome.ignored("a newer stock level for this item was already applied")
    available = p.get("available")
    if available is None:
        return Outcome.ignored(f"{product.sku}: Shopify does not track this item's stock (available is null)")
    if not location:
        raise MappingError("the inventory level has no location_id")
    level = to_int(available, field="available")
    total = record_shopify_level(product, item, location, level, updated_at)
    if total is None:
        return Outcome.ignored(f"a newer stock level for item {item} at location {location} is already kept")
    if desk_is_source():
        stock_may_change([product.pk])  # the desk compares the channel's number with its own
        return Outcome(note=f"{product.sku}: Shopify reports {total} available (the desk is the stock source)")
    count = max(0, total)
    apply_stock_count(product.pk, count, reference=f"shopify inventory level {item}@{location}")
    return Outcome(note=f"{product.sku}: on hand counted at {count} ({level} at location {location})")


# --------------------------------------------------------------------------- fulfilment and tracking


def _order_for(order_id) -> Order:
    external_id = ext_id(order_id)
    order = (
        Order.objects.select_for_update(no_key=True).filter(channel=Channel.SHOPIFY, external_id=external_id).first()
    )
    if order is None:
        raise MissingFact(
            "order",
            f"{Channel.SHOPIFY}:{external_id}",
            f"Shopify order {external_id} is not known yet (this delivery is applied when it arrives)",
        )
    return order


def handle_fulfillment(delivery: WebhookDelivery, p: dict) -> Outcome:
    fulfillment_id = ext_id(p.get("id"))
    order = _order_for(p.get("order_id"))
    updated_at = to_datetime(p.get("updated_at"), field="updated_at")
    if newer_version_applied(delivery, f"fulfillment:{fulfillment_id}", updated_at):
        return Outcome.ignored("a newer version of this fulfilment was already applied")
    numbers = [text(n, 128) for n in (p.get("tracking_numbers") or []) if n]
    if not numbers and p.get("tracking_number"):
        numbers = [text(p["tracking_number"], 128)]
    if not numbers:
        return Outcome.ignored("the fulfilment has no tracking number yet")
    urls = [text(u, 500) for u in (p.get("tracking_urls") or [])] or [text(p.get("tracking_url"), 500)]
    created_at = to_datetime(p.get("created_at"), field="created_at") or updated_at
    for index, number in enumerate(numbers):
        shipment = _shipment(order, number, carrier=text(p.get("tracking_company"), 64), fulfillment_id=fulfillment_id)
        shipment.tracking_url = urls[index] if index < len(urls) else urls[0]
        if created_at and shipment.label_created_at > created_at:
            shipment.label_created_at = created_at
        shipment.save()
        raw = p.get("shipment_status")
        events = []
        if raw and updated_at:
            events.append(EventFacts(status=shipment_status(raw), raw_status=text(raw, 64), occurred_at=updated_at))
        record_events(shipment, events, source="shopify")
    return Outcome(note=f"order {order.number}: tracking {', '.join(numbers)}")


def _shipment(order: Order, number: str, *, carrier: str, fulfillment_id: str) -> Shipment:
    shipment, _ = Shipment.objects.select_for_update().get_or_create(
        order=order, tracking_number=number, defaults={"carrier": carrier, "external_id": fulfillment_id}
    )
    shipment.carrier = carrier or shipment.carrier
    shipment.external_id = fulfillment_id or shipment.external_id
    address = order.shipping_country
    shipment.destination_country = shipment.destination_country or address
    shipment.destination_postal_code = shipment.destination_postal_code or order.shipping_postal_code
    return shipment


def handle_fulfillment_event(delivery: WebhookDelivery, p: dict) -> Outcome:
    fulfillment_id = ext_id(p.get("fulfillment_id"))
    order = _order_for(p.get("order_id"))
    delivery.resource_id = f"fulfillment_event:{ext_id(p.get('id'))}"
    shipments = list(Shipment.objects.filter(order=order, external_id=fulfillment_id).order_by("pk"))
    if not shipments:
        raise MissingFact(
            "fulfillment",
            f"{order.external_id}:{fulfillment_id}",
            f"no shipment for Shopify fulfilment {fulfillment_id} yet (applied when its fulfillments/create is)",
        )
    occurred_at = to_datetime(p.get("happened_at") or p.get("created_at"), field="happened_at", required=True)
    raw = text(p.get("status"), 64)
    event = EventFacts(
        status=shipment_status(raw),
        raw_status=raw,
        occurred_at=occurred_at,
        message=text(p.get("message"), 500),
        location=location_text(p.get("city"), p.get("province"), p.get("zip"), p.get("country")),
        country=text(p.get("country"), 2) if len(text(p.get("country"), 3)) == 2 else "",
    )
    for shipment in shipments:
        record_events(shipment, [event], source="shopify")
    return Outcome(note=f"order {order.number}: {raw or 'no status'}")


HANDLERS = {
    "orders/create": handle_order,
    "orders/updated": handle_order,
    "orders/cancelled": handle_order,
    "orders/fulfilled": handle_order,
    "orders/paid": handle_order,
    "products/create": handle_product,
    "products/update": handle_product,
    "inventory_levels/update": handle_inventory_level,
    "fulfillments/create": handle_fulfillment,
    "fulfillments/update": handle_fulfillment,
    "fulfillment_events/create": handle_fulfillment_event,
}


def handle(delivery: WebhookDelivery, payload: dict) -> Outcome:
    handler = HANDLERS.get(delivery.topic)
    if handler is None:
        return Outcome.ignored(f"topic {delivery.topic or '(none)'} is not one Backorder Desk uses")
    with batch_state.atomic():
        return handler(delivery, payload)
