"""Magento 2 / Adobe Commerce: orders and stock pulled from its REST API (it sends no webhooks).

``pull()`` (``manage.py sync_magento``, and the ``magento.sync`` schedule when ``MAGENTO_URL`` and
``MAGENTO_ACCESS_TOKEN`` are set) reads, with the integration's access token (Bearer):

* orders: ``GET /rest/V1/orders`` with ``searchCriteria`` ``updated_at >= cursor``, oldest first,
  page by page. The cursor is the newest ``updated_at`` among the Magento orders already kept
  (as deliveries, and as orders), so a rerun starts where the last run stopped;
* stock: ``GET /rest/V1/inventory/source-items`` (MSI), summed per SKU over enabled sources.

Each record is kept as a delivery of source ``magento`` (topic ``order`` or ``stock``), then queued
and applied like a webhook's: the same ``upsert_order`` and stock count as Shopify's, and
``replay_webhooks`` for a failed one. A record whose body is already kept is not kept again: a
rerun, or an order seen again at the cursor's second, adds nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..models import Channel, Order, WebhookDelivery
from . import platform_api
from .common import MappingError, ext_id, store_verified, text, to_datetime, to_decimal, to_int
from .orders import CustomerFacts, LineFacts, OrderFacts, upsert_order
from .outcome import Outcome, newer_version_applied
from .stock_counts import count_sku

SOURCE = WebhookDelivery.Source.MAGENTO
MAX_PAGES = 200
S, P = Order.Status, Order.PaymentState
STATUS = {
    "pending": (S.OPEN, P.PENDING),
    "pending_payment": (S.OPEN, P.PENDING),
    "payment_review": (S.OPEN, P.PENDING),
    "fraud": (S.OPEN, P.PENDING),
    "processing": (S.OPEN, P.PAID),
    "holded": (S.OPEN, P.PAID),
    "complete": (S.FULFILLED, P.PAID),
    "closed": (S.CANCELLED, P.REFUNDED),  # Magento closes an order that was refunded in full
    "canceled": (S.CANCELLED, P.VOIDED),
}


def configured() -> bool:
    return bool(settings.MAGENTO_URL and settings.MAGENTO_ACCESS_TOKEN)


# --------------------------------------------------------------------------- applying one record


def order_facts(p: dict) -> OrderFacts:
    key = text(p.get("status"), 32) or text(p.get("state"), 32)
    if key not in STATUS:
        key = text(p.get("state"), 32)
    if key not in STATUS:
        raise MappingError(f"order status {p.get('status')!r} is not one Magento documents")
    status, payment = STATUS[key]
    updated_at = to_datetime(p.get("updated_at"), field="updated_at")
    lines = []
    for item in p.get("items") or []:
        if not isinstance(item, dict) or item.get("parent_item_id"):
            continue  # a configurable's child: its parent row carries the chosen SKU and price
        quantity = to_int(to_decimal(item.get("qty_ordered"), field="items.qty_ordered"), field="items.qty_ordered")
        shipped = to_decimal(item.get("qty_shipped"), field="items.qty_shipped")
        lines.append(
            LineFacts(
                external_id=ext_id(item.get("item_id")),
                sku=text(item.get("sku"), 128),
                title=text(item.get("name"), 255),
                quantity=quantity,
                unit_price=to_decimal(item.get("price_incl_tax") or item.get("price"), field="items.price"),
                fulfilled=status == S.FULFILLED or shipped >= quantity,
            )
        )
    assignments = (p.get("extension_attributes") or {}).get("shipping_assignments") or [{}]
    address = ((assignments[0] or {}).get("shipping") or {}).get("address") or {}
    billing = p.get("billing_address") or {}
    names = (p.get("customer_firstname"), p.get("customer_lastname"))
    return OrderFacts(
        channel=Channel.MAGENTO,
        external_id=ext_id(p.get("entity_id")),
        number=text(p.get("increment_id") or p.get("entity_id"), 64),
        placed_at=to_datetime(p.get("created_at"), field="created_at", required=True),
        updated_at=updated_at,
        status=status,
        cancelled_at=updated_at if status == S.CANCELLED else None,
        payment_state=payment,
        currency=text(p.get("order_currency_code"), 3) or "USD",
        subtotal=to_decimal(p.get("subtotal_incl_tax") or p.get("subtotal"), field="subtotal"),
        total=to_decimal(p.get("grand_total"), field="grand_total"),
        shipping_method=text(p.get("shipping_description"), 128),
        shipping_name=" ".join(x for x in (address.get("firstname"), address.get("lastname")) if x),
        shipping_city=text(address.get("city"), 128),
        shipping_region=text(address.get("region"), 64),
        shipping_postal_code=text(address.get("postcode"), 32),
        shipping_country=text(address.get("country_id"), 2),
        customer=CustomerFacts(
            email=text(p.get("customer_email"), 254),
            name=" ".join(x for x in names if x),
            phone=text(billing.get("telephone"), 32),
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


def handle_stock(delivery: WebhookDelivery, p: dict) -> Outcome:
    sku = text(p.get("sku"), 128)
    # the pull's moment is the count's version (kept on the delivery, not in the body)
    if newer_version_applied(delivery, f"stock:{sku}", delivery.resource_updated_at):
        return Outcome.ignored("a later count of this SKU was already applied")
    return Outcome(note=count_sku(sku, p.get("quantity"), reference=f"magento stock {sku}"))


def handle(delivery: WebhookDelivery, payload: dict) -> Outcome:
    handler = {"order": handle_order, "stock": handle_stock}.get(delivery.topic)
    if handler is None:
        return Outcome.ignored(f"topic {delivery.topic or '(none)'} is not one Backorder Desk uses")
    with transaction.atomic():
        return handler(delivery, payload)


# --------------------------------------------------------------------------- pulling


@dataclass
class Pulled:
    """A record read from Magento, kept as a delivery would be (``store_verified`` reads these two)."""

    body: bytes
    headers: dict = field(default_factory=lambda: {"x-pulled-from": "magento"})


@dataclass
class PullReport:
    orders: int = 0
    stock: int = 0
    unchanged: int = 0
    cursor: str = ""

    def __str__(self) -> str:
        return (
            f"Magento: {self.orders} order(s) and {self.stock} stock level(s) kept and queued, "
            f"{self.unchanged} unchanged; order cursor {self.cursor or '(start)'}"
        )


def cursor() -> str:
    """The newest ``updated_at`` of the Magento orders kept, in Magento's ``YYYY-MM-DD HH:MM:SS`` (UTC).

    Read from the deliveries kept (an order pulled but not applied yet counts) and from the orders
    themselves (which outlive the deliveries ``intake.prune_deliveries`` removes).
    """
    kept = WebhookDelivery.objects.filter(source=SOURCE, topic="order", signature_valid=True)
    newest = [
        kept.aggregate(at=Max("resource_updated_at"))["at"],
        Order.objects.filter(channel=Channel.MAGENTO).aggregate(at=Max("channel_updated_at"))["at"],
    ]
    newest = max((at for at in newest if at is not None), default=None)
    return newest.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if newest else ""


def _keep(topic: str, record: dict, report: PullReport, *, updated_at=None, resource_id: str = "") -> None:
    body = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str).encode()
    if WebhookDelivery.objects.filter(source=SOURCE, topic=topic, body_sha256=WebhookDelivery.hash_body(body)).exists():
        report.unchanged += 1
        return
    store_verified(SOURCE, Pulled(body), topic=topic, resource_id=resource_id, resource_updated_at=updated_at)
    if topic == "order":
        report.orders += 1
    else:
        report.stock += 1


def _pages(api, path: str, criteria: dict):
    page, size = 1, settings.MAGENTO_PAGE_SIZE
    while page <= MAX_PAGES:
        params = {**criteria, "searchCriteria[pageSize]": size, "searchCriteria[currentPage]": page}
        data = platform_api.call(api, "GET", path, params=params)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise MappingError(f"Magento's answer to {path} has no items list")
        yield from (item for item in items if isinstance(item, dict))
        total = data.get("total_count") if isinstance(data.get("total_count"), int) else 0
        if page * size >= total or not items:
            return  # Magento answers a page past the end with the last page again
        page += 1


def pull_orders(api, report: PullReport) -> None:
    report.cursor = cursor()
    criteria = {"searchCriteria[sortOrders][0][field]": "updated_at", "searchCriteria[sortOrders][0][direction]": "ASC"}
    if report.cursor:
        criteria.update(
            {
                "searchCriteria[filter_groups][0][filters][0][field]": "updated_at",
                "searchCriteria[filter_groups][0][filters][0][value]": report.cursor,
                "searchCriteria[filter_groups][0][filters][0][condition_type]": "gteq",
            }
        )
    for order in _pages(api, "/V1/orders", criteria):
        try:
            updated_at = to_datetime(order.get("updated_at"), field="updated_at")
        except MappingError:
            updated_at = None  # kept anyway: applying it says what is wrong, and it can be replayed
        _keep("order", order, report, updated_at=updated_at, resource_id=f"order:{text(order.get('entity_id'), 40)}")


def pull_stock(api, report: PullReport, *, pulled_at) -> None:
    totals: dict[str, Decimal] = {}
    for item in _pages(api, "/V1/inventory/source-items", {}):
        sku = text(item.get("sku"), 128)
        if not sku:
            continue
        enabled = str(item.get("status", 1)) == "1"
        quantity = to_decimal(item.get("quantity"), field="quantity") if enabled else Decimal("0")
        totals[sku] = totals.get(sku, Decimal("0")) + quantity
    for sku, quantity in sorted(totals.items()):
        # the body names the count, not the moment: the same count again is recognised as unchanged
        _keep(
            "stock", {"sku": sku, "quantity": str(quantity)}, report, updated_at=pulled_at, resource_id=f"stock:{sku}"
        )


def pull(*, stock: bool = True) -> PullReport:
    """Read Magento's orders since the cursor and its stock levels; keep and queue what changed."""
    api = platform_api.magento()
    report = PullReport()
    pull_orders(api, report)
    if stock:
        pull_stock(api, report, pulled_at=timezone.now())
    return report


def pull_scheduled() -> str:
    """The ``magento.sync`` schedule: nothing to do when Magento is not configured."""
    if not configured():
        return "Magento is not configured (MAGENTO_URL, MAGENTO_ACCESS_TOKEN)"
    return str(pull())
