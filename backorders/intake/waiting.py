"""Deliveries that came before a fact they need: parked, and tried again when it arrives.

Senders do not keep order: a fulfilment can come before its order, a stock level before its
product, a scan before its parcel. Such a delivery raises ``MissingFact`` naming what it needs
(``order:shopify:123``, ``sku:MUG-BLUE``, ...). The task parks it as *waiting*, with the fact and
a time to try again (``INTAKE_WAIT_RETRY_SECONDS``, doubling to an hour). It is tried again:

- when the fact arrives: after any delivery that changed facts, ``wake()`` looks for parked
  deliveries whose fact now exists (one query per kind of fact) and queues them;
- on the ``intake.retry_waiting`` schedule, when its time comes (``retry_due``), whatever
  brought the fact (a CSV import, the admin, a delivery whose queueing was lost);
- when its sender sends it again.

One that has waited ``INTAKE_WAIT_MAX_HOURS`` fails with its reason, for a person to look at.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Channel, Order, Product, Shipment, WebhookDelivery
from .common import MappingError, enqueue_delivery

WAITING = WebhookDelivery.Status.WAITING


class MissingFact(MappingError):
    """The payload is fine, but a fact it builds on has not arrived yet: wait for it, do not fail."""

    def __init__(self, kind: str, value: str, message: str):
        super().__init__(message)
        if kind not in PRESENT:
            raise ValueError(f"no way to tell when a {kind!r} arrives")
        self.kind, self.value = kind, str(value)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"[:200]


def _orders(values: set[str]) -> set[str]:
    wanted = Q(pk__in=[])
    for value in values:
        channel, _, external_id = value.partition(":")
        wanted |= Q(channel=channel, external_id=external_id)
    return {
        f"{channel}:{external_id}"
        for channel, external_id in Order.objects.filter(wanted).values_list("channel", "external_id")
    }


def _order_numbers(values: set[str]) -> set[str]:
    forms = {v: {v.lstrip("#"), "#" + v.lstrip("#")} for v in values}
    kept = set(Order.objects.filter(number__in=set().union(*forms.values())).values_list("number", flat=True))
    return {v for v, variants in forms.items() if variants & kept}


def _tracking(values: set[str]) -> set[str]:
    # as carriers' lookups match: spaces dropped, either case
    variants = {v: {v, v.upper(), v.lower()} for v in values}
    found = set(
        Shipment.objects.filter(tracking_number__in=set().union(*variants.values())).values_list(
            "tracking_number", flat=True
        )
    )
    return {v for v, forms in variants.items() if forms & found}


def _fulfillments(values: set[str]) -> set[str]:
    # a Shopify fulfilment's shipment, on its order: "order id:fulfilment id", as the handler looks
    wanted = Q(pk__in=[])
    for value in values:
        order_id, _, fulfillment_id = value.partition(":")
        wanted |= Q(order__external_id=order_id, external_id=fulfillment_id)
    found = Shipment.objects.filter(wanted, order__channel=Channel.SHOPIFY).values_list(
        "order__external_id", "external_id"
    )
    return {f"{order_id}:{fulfillment_id}" for order_id, fulfillment_id in found}


PRESENT = {
    "order": _orders,
    "sku": lambda values: set(Product.objects.filter(sku__in=values).values_list("sku", flat=True)),
    "inventory_item": lambda values: set(
        Product.objects.filter(shopify_inventory_item_id__in=values).values_list("shopify_inventory_item_id", flat=True)
    ),
    "tracking": _tracking,
    "fulfillment": _fulfillments,
    # ShipStation names orders by number, with or without the "#" the store may keep
    "order_number": _order_numbers,
    # a platform's API that did not answer (backorders.intake.platform_api): only time brings it back
    "api": lambda values: set(),
}


def present(keys: set[str]) -> set[str]:
    """The keys whose fact exists now: one query per kind of fact."""
    by_kind: dict[str, set[str]] = defaultdict(set)
    for key in keys:
        kind, _, value = key.partition(":")
        if kind in PRESENT and value:
            by_kind[kind].add(value)
    return {f"{kind}:{value}" for kind, values in by_kind.items() for value in PRESENT[kind](values)}


def next_try(attempts: int, now: datetime) -> datetime:
    base = settings.INTAKE_WAIT_RETRY_SECONDS
    return now + timedelta(seconds=min(3600, base * 2 ** max(0, min(attempts - 1, 12))))


def park(delivery: WebhookDelivery, reason: str, *, key: str = "", now: datetime, before: str = "") -> None:
    """Mark the delivery (locked by the caller) as waiting for ``key`` (or for time alone), or give up.

    ``before`` is what it waited for until this try: when it waits for the same fact again, it
    is left to its schedule (no second look after commit, so it can never be woken in a loop).
    """
    waited = now - delivery.received_at
    if waited >= timedelta(hours=settings.INTAKE_WAIT_MAX_HOURS):
        hours = int(waited.total_seconds() // 3600)
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.error = f"{reason} (still so after waiting {hours} hours; replay it once that is fixed)"[:2000]
        delivery.retry_at = None
        return
    delivery.status, delivery.error = WAITING, f"waiting: {reason}"[:2000]
    delivery.waiting_for = key[:200]
    delivery.retry_at = next_try(delivery.attempts, now)
    if key and key != before:
        # the fact may commit between our look and our commit: look once more after it
        transaction.on_commit(lambda: wake([key]))


def wake(keys: list[str] | None = None, limit: int = 500) -> list[int]:
    """Queue the parked deliveries whose fact has arrived (those waiting for ``keys``, or any). Returns their ids.

    A delivery is queued once: its ``retry_at`` is brought to now, so a later ``wake`` skips it
    and the schedule treats it as due if the queued task is lost.
    """
    now = timezone.now()
    parked = WebhookDelivery.objects.filter(status=WAITING, retry_at__gt=now).exclude(waiting_for="")
    if keys is not None:
        parked = parked.filter(waiting_for__in=keys)
    rows = list(parked.order_by("received_at", "pk").values_list("pk", "waiting_for")[:limit])
    if not rows:
        return []
    ready = present({key for _, key in rows})
    ids = [pk for pk, key in rows if key in ready]
    if ids:
        WebhookDelivery.objects.filter(pk__in=ids, status=WAITING).update(retry_at=now)
        for pk in ids:
            enqueue_delivery(pk)
    return ids


def due(limit: int = 500) -> list[int]:
    """Parked deliveries whose time to try again has come, oldest first."""
    return list(
        WebhookDelivery.objects.filter(status=WAITING, retry_at__lte=timezone.now())
        .order_by("retry_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
