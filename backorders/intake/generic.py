"""Generic intake: documented JSON from systems with no native adapter (Magento, SAP, NetSuite,
a home-grown order system...), signed per Standard Webhooks.

``POST /webhooks/generic/`` takes one fact per delivery, ``{"type": ..., "timestamp": ..., "data": {...}}``:

* ``order``: an order and its lines, applied through the same ``upsert_order`` as every channel
  (channel ``generic``; a version older than the one kept is ignored);
* ``stock_level``: a counted on-hand level for a SKU (a rise is allocated to waiting lines);
* ``tracking``: a shipment of an order and its carrier events (statuses in this app's vocabulary);
* ``supplier_update``: supplier evidence. Suppliers are a higher floor that this app never
  imports: the suppliers app registers its handler with ``register("supplier_update", fn)``;
  until one is registered the type is refused with 422 and the reason.

The view verifies (``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` against
``GENERIC_WEBHOOK_SECRET``; a tampered body or a timestamp more than 5 minutes off gets 401 and is
kept as rejected), stores, deduplicates on ``webhook-id`` and enqueues; the worker applies it
through ``dispatch.handle_delivery`` like every other source, so ``replay_webhooks`` works too.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ..allocation import apply_stock_count
from ..models import Channel, Order, Product, Shipment, TrackingStatus, WebhookDelivery
from .common import (
    BadPayload,
    MappingError,
    content_type_problem,
    ext_id,
    loads,
    oversized,
    store_rejected,
    store_verified,
    text,
    to_datetime,
    to_decimal,
    to_int,
)
from .orders import CustomerFacts, LineFacts, OrderFacts, upsert_order
from .outcome import Outcome, newer_version_applied
from .tracking import EventFacts, record_events
from .waiting import MissingFact

SOURCE = WebhookDelivery.Source.GENERIC
BUILT_IN = ("order", "stock_level", "tracking")
_REGISTERED: dict[str, Callable[[WebhookDelivery, dict], Outcome]] = {}

ORDER_STATUS = {s.value for s in Order.Status}
PAYMENT_STATE = {s.value for s in Order.PaymentState}
TRACKING = {s.value for s in TrackingStatus}


def register(fact_type: str, handler: Callable[[WebhookDelivery, dict], Outcome]) -> None:
    """Let an app above this one handle a fact type (the suppliers app: ``supplier_update``).
    ``handler(delivery, data)`` runs in the worker's transaction and returns an ``Outcome``."""
    _REGISTERED[fact_type] = handler


def accepted_types() -> list[str]:
    return [*BUILT_IN, *sorted(_REGISTERED)]


# --------------------------------------------------------------------------- the endpoint


def verify(request: HttpRequest) -> str:
    """An empty string when the delivery is signed with the secret and fresh; otherwise why not."""
    secret = settings.GENERIC_WEBHOOK_SECRET
    if not secret:
        return "GENERIC_WEBHOOK_SECRET is not set, so no delivery can be verified"
    try:
        Webhook(secret).verify(request.body, dict(request.headers), json_parse=False)
    except WebhookVerificationError as exc:
        return f"signature check failed: {exc}"
    except (ValueError, UnicodeDecodeError):
        return "signature headers are malformed"
    return ""


@csrf_exempt
@login_not_required
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    if too_large := oversized(SOURCE, request):
        return too_large
    problem = verify(request)
    if problem:
        store_rejected(SOURCE, request, reason=problem)
        return HttpResponse(f"Rejected: {problem}.", status=401, content_type="text/plain")
    problem = content_type_problem(request)
    if problem:
        store_rejected(SOURCE, request, reason=problem, signature_valid=True)
        return HttpResponse(f"Rejected: {problem}.", status=415, content_type="text/plain")
    try:
        payload = loads(request.body)
    except BadPayload as exc:
        store_rejected(SOURCE, request, reason=str(exc), signature_valid=True)
        return HttpResponse(f"Rejected: {exc}.", status=400, content_type="text/plain")
    fact_type = payload.get("type")
    problem = _shape_problem(fact_type, payload)
    if problem:
        store_rejected(SOURCE, request, reason=problem, topic=str(fact_type or ""), signature_valid=True)
        return JsonResponse({"error": problem, "accepted_types": accepted_types()}, status=422)
    delivery, is_new = store_verified(
        SOURCE,
        request,
        topic=fact_type,
        delivery_id=request.headers.get("webhook-id", "").strip(),
        resource_id=_resource_id(fact_type, payload["data"]),
    )
    return JsonResponse({"delivery": delivery.pk, "status": delivery.status, "duplicate": not is_new})


def _shape_problem(fact_type, payload: dict) -> str:
    if fact_type == "supplier_update" and fact_type not in _REGISTERED:
        return (
            "supplier_update is not accepted: no supplier-update handler is registered (the suppliers app "
            "registers one with backorders.intake.generic.register)"
        )
    if fact_type not in accepted_types():
        return f"type must be one of {', '.join(accepted_types())}; got {fact_type!r}"
    if not isinstance(payload.get("data"), dict):
        return "data must be a JSON object"
    return ""


def _resource_id(fact_type: str, data: dict) -> str:
    key = {"order": "id", "stock_level": "sku", "tracking": "tracking_number"}.get(fact_type)
    value = data.get(key) if key else None
    return f"{fact_type}:{value}"[:64] if isinstance(value, str | int) and not isinstance(value, bool) else ""


# --------------------------------------------------------------------------- the worker side


def handle(delivery: WebhookDelivery, payload: dict) -> Outcome:
    fact_type = delivery.topic
    handler = HANDLERS.get(fact_type) or _REGISTERED.get(fact_type)
    if handler is None:
        raise MappingError(f"no handler for generic type {fact_type!r} (accepted: {', '.join(accepted_types())})")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise MappingError("data must be a JSON object")
    with transaction.atomic():
        return handler(delivery, data)


def order_facts(d: dict) -> OrderFacts:
    status = text(d.get("status"), 16) or Order.Status.OPEN
    if status not in ORDER_STATUS:
        raise MappingError(f"status must be one of {', '.join(sorted(ORDER_STATUS))}; got {status!r}")
    payment = text(d.get("payment_state"), 24) or Order.PaymentState.PAID
    if payment not in PAYMENT_STATE:
        raise MappingError(f"payment_state must be one of {', '.join(sorted(PAYMENT_STATE))}; got {payment!r}")
    lines = []
    for index, li in enumerate(d.get("lines") or []):
        if not isinstance(li, dict):
            raise MappingError(f"lines[{index}] is not an object")
        line_id = ext_id(li.get("id"))
        if not line_id:
            raise MappingError(f"lines[{index}] has no id")
        lines.append(
            LineFacts(
                external_id=line_id,
                sku=text(li.get("sku"), 128),
                title=text(li.get("title"), 255),
                quantity=to_int(li.get("quantity"), field=f"lines[{index}].quantity"),
                unit_price=to_decimal(li.get("unit_price"), field=f"lines[{index}].unit_price"),
                removed=bool(li.get("removed")),
                fulfilled=bool(li.get("fulfilled")),
            )
        )
    if any(lf.quantity <= 0 for lf in lines):
        raise MappingError("every line needs a quantity of at least 1")
    customer = d.get("customer") or {}
    shipping = d.get("shipping") or {}
    return OrderFacts(
        channel=Channel.GENERIC,
        external_id=ext_id(d.get("id")),
        number=text(d.get("number") or d.get("id"), 64),
        placed_at=to_datetime(d.get("placed_at"), field="placed_at", required=True),
        updated_at=to_datetime(d.get("updated_at"), field="updated_at"),
        status=status,
        cancelled_at=to_datetime(d.get("cancelled_at"), field="cancelled_at"),
        payment_state=payment,
        currency=text(d.get("currency"), 3) or "USD",
        subtotal=to_decimal(d.get("subtotal"), field="subtotal"),
        total=to_decimal(d.get("total"), field="total"),
        shipping_method=text(d.get("shipping_method"), 128),
        shipping_name=text(shipping.get("name"), 255),
        shipping_city=text(shipping.get("city"), 128),
        shipping_region=text(shipping.get("region"), 64),
        shipping_postal_code=text(shipping.get("postal_code"), 32),
        shipping_country=text(shipping.get("country"), 2),
        customer=CustomerFacts(
            email=text(customer.get("email"), 254),
            name=text(customer.get("name"), 255),
            phone=text(customer.get("phone"), 32),
        )
        if customer
        else None,
        lines=lines,
    )


def handle_order(delivery: WebhookDelivery, d: dict) -> Outcome:
    facts = order_facts(d)
    delivery.resource_id, delivery.resource_updated_at = f"order:{facts.external_id}", facts.updated_at
    result = upsert_order(facts)
    if not result.applied:
        return Outcome.ignored(result.reason)
    note = f"order {result.order.number}"
    if result.unknown_skus:
        note += "; new products for unknown SKUs: " + ", ".join(result.unknown_skus)
    return Outcome(note=note)


def handle_stock_level(delivery: WebhookDelivery, d: dict) -> Outcome:
    sku = text(d.get("sku"), 128)
    if not sku:
        raise MappingError("a stock level needs a sku")
    product = Product.objects.select_for_update(no_key=True).filter(sku=sku).first()
    if product is None:
        raise MissingFact("sku", sku, f"no product has SKU {sku!r} yet (applied when its product or an order names it)")
    updated_at = to_datetime(d.get("updated_at"), field="updated_at")
    if newer_version_applied(delivery, f"stock_level:{sku}", updated_at):
        return Outcome.ignored("a newer stock level for this SKU was already applied")
    count = to_int(d.get("on_hand"), field="on_hand")
    if count < 0:
        raise MappingError(f"on_hand cannot be negative (got {count})")
    apply_stock_count(product.pk, count, reference=f"generic stock level ({delivery.delivery_id or delivery.pk})")
    return Outcome(note=f"{sku}: on hand counted at {count}")


def handle_tracking(delivery: WebhookDelivery, d: dict) -> Outcome:
    number = text(d.get("tracking_number"), 128)
    if not number:
        raise MappingError("tracking needs a tracking_number")
    channel = text(d.get("order_channel"), 16) or Channel.GENERIC
    order_id = ext_id(d.get("order_id"))
    order = Order.objects.select_for_update(no_key=True).filter(channel=channel, external_id=order_id).first()
    if order is None:
        raise MissingFact(
            "order", f"{channel}:{order_id}", f"{channel} order {order_id!r} is not known yet (applied when it arrives)"
        )
    shipped_by = text(d.get("shipped_by"), 16) or Shipment.ShippedBy.STORE
    if shipped_by not in Shipment.ShippedBy.values:
        raise MappingError(f"shipped_by must be store or supplier; got {shipped_by!r}")
    shipment, _ = Shipment.objects.get_or_create(
        order=order,
        tracking_number=number,
        defaults={
            "carrier": text(d.get("carrier"), 64),
            "tracking_url": text(d.get("tracking_url"), 500),
            "shipped_by": shipped_by,
            "destination_country": order.shipping_country,
            "destination_postal_code": order.shipping_postal_code,
        },
    )
    events = []
    for index, e in enumerate(d.get("events") or []):
        if not isinstance(e, dict):
            raise MappingError(f"events[{index}] is not an object")
        status = text(e.get("status"), 24)
        events.append(
            EventFacts(
                status=status if status in TRACKING else TrackingStatus.UNKNOWN,
                raw_status=text(e.get("raw_status") or status, 64),
                occurred_at=to_datetime(e.get("occurred_at"), field=f"events[{index}].occurred_at", required=True),
                message=text(e.get("message"), 500),
                location=text(e.get("location"), 255),
                country=text(e.get("country"), 2),
            )
        )
    added = record_events(shipment, events, source="generic")
    return Outcome(note=f"order {order.number}: tracking {number}, {added} new event(s)")


HANDLERS = {"order": handle_order, "stock_level": handle_stock_level, "tracking": handle_tracking}
