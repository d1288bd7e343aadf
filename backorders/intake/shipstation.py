"""ShipStation's ``SHIP_NOTIFY`` webhook: fetch the shipments it names and keep them as shipments.

ShipStation signs nothing. The URL registered with it carries a secret token,
``/webhooks/shipstation/?token=<SHIPSTATION_WEBHOOK_SECRET>``, compared in constant time (the
product's logs show ``token=[redacted]``). The body is only ``{"resource_url", "resource_type"}``;
the worker GETs ``resource_url`` with the API key and secret (Basic auth), only when it is on
``SHIPSTATION_API_URL``'s host (``platform_api``), page by page, and records each shipment's
carrier and tracking number on the order with that number, so stale tracking works for
ShipStation stores. A shipment for an order not kept yet waits for it; a voided label is skipped.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import Order, Shipment, WebhookDelivery
from . import platform_api
from .common import MappingError, ext_id, text, to_datetime
from .outcome import Outcome
from .waiting import MissingFact

SOURCE = WebhookDelivery.Source.SHIPSTATION
MAX_PAGES = 50


def verify(request: HttpRequest) -> bool:
    token, given = settings.SHIPSTATION_WEBHOOK_SECRET, request.GET.get("token", "")
    return bool(token) and bool(given) and hmac.compare_digest(token.encode(), given.encode())


def delivery_keys(payload: dict) -> dict:
    # ShipStation sends no id: a re-sent notification is recognised by its body
    return {"topic": text(payload.get("resource_type"), 64), "delivery_id": ""}


def number_variants(number: str) -> set[str]:
    """An order number as ShipStation shows it and as the store may keep it (with or without ``#``)."""
    bare = number.strip().lstrip("#")
    return {bare, f"#{bare}"} if bare else set()


def order_for(number: str, order_key: str) -> Order:
    wanted = Q(number__in=number_variants(number))
    if order_key:
        wanted |= Q(external_id=order_key)
    order = Order.objects.filter(wanted).order_by("pk").first()
    if order is None:
        raise MissingFact("order_number", number, f"no order numbered {number} yet (applied when it arrives)")
    return order


def pacific(value, *, field: str):
    """ShipStation's times carry no offset and are Pacific time (its documented convention)."""
    if isinstance(value, str) and value and not value.endswith("Z") and "+" not in value[10:]:
        parsed = parse_datetime(value.strip()) or parse_datetime(f"{value.strip()}T00:00:00")
        if parsed is None:
            raise MappingError(f"{field} {value!r} is not a date and time")
        return parsed.replace(tzinfo=ZoneInfo("America/Los_Angeles")) if timezone.is_naive(parsed) else parsed
    return to_datetime(value, field=field)


def _page_url(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "page"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(page))])))


def fetch_shipments(resource_url: str) -> list[dict]:
    platform = platform_api.shipstation()
    found, page, pages = [], 1, 1
    while page <= min(pages, MAX_PAGES):
        data = platform_api.call(platform, "GET", resource_url if page == 1 else _page_url(resource_url, page))
        if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
            raise MappingError("ShipStation's answer has no shipments list")
        found.extend(s for s in data["shipments"] if isinstance(s, dict))
        pages = data.get("pages") if isinstance(data.get("pages"), int) else 1
        page += 1
    return found


def record_shipment(s: dict) -> str:
    number = text(s.get("orderNumber"), 64)
    tracking = text(s.get("trackingNumber"), 128).replace(" ", "")
    if not number:
        raise MappingError("a shipment names no orderNumber")
    if s.get("voided") or not tracking:
        return f"{number}: skipped ({'voided' if s.get('voided') else 'no tracking number'})"
    order = order_for(number, text(s.get("orderKey"), 64))
    shipped_at = pacific(s.get("createDate") or s.get("shipDate"), field="createDate")
    shipment, _ = Shipment.objects.select_for_update().get_or_create(
        order=order,
        tracking_number=tracking,
        defaults={"carrier": text(s.get("carrierCode"), 64), "external_id": ext_id(s.get("shipmentId"))[:64]},
    )
    shipment.carrier = text(s.get("carrierCode"), 64) or shipment.carrier
    shipment.external_id = ext_id(s.get("shipmentId"))[:64] or shipment.external_id
    shipment.destination_country = shipment.destination_country or order.shipping_country
    shipment.destination_postal_code = shipment.destination_postal_code or order.shipping_postal_code
    if shipped_at and shipment.label_created_at > shipped_at:
        shipment.label_created_at = shipped_at
    shipment.save()
    return f"order {order.number}: {shipment.carrier or 'carrier?'} {tracking}"


def handle(delivery: WebhookDelivery, payload: dict) -> Outcome:
    kind = text(payload.get("resource_type"), 64)
    if kind != "SHIP_NOTIFY":
        return Outcome.ignored(f"resource type {kind or '(none)'} is not one Backorder Desk uses")
    url = text(payload.get("resource_url"), 2000)
    if not url:
        raise MappingError("the notification has no resource_url")
    delivery.resource_id = f"ship_notify:{WebhookDelivery.hash_body(url.encode())[:40]}"
    shipments = fetch_shipments(url)
    with transaction.atomic():
        notes = [record_shipment(s) for s in shipments]
    return Outcome(note="; ".join(notes) or "no shipments in the notification", changed=bool(notes))
