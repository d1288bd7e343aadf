"""New orders of a batch written together: a fixed number of statements for any number of them.

A run of deliveries that each bring an order the store does not keep yet is written set-based:
the customers, the orders, their lines and the deliveries' outcomes, one statement each (the
new lines' stock is reserved with the batch's others, ``batch_state``). A delivery qualifies
when its payload maps, no kept order has its channel id or its number, every line's product is
one the batch read at its start, and no other delivery of the batch is about the same order or
number. What is written is what ``upsert_order`` writes when it creates an order (the same
builders make the rows); every other delivery is applied one by one.

The run is written in a savepoint. Should a statement fail (a value beyond a column's range, an
order or customer another writer inserted meanwhile), the savepoint is rolled back and the run
is applied one by one instead, so a bad delivery still fails alone and keeps its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from ..bulk import copy_objects, update_rows
from ..models import Customer, Order, OrderLine, Product, WebhookDelivery
from . import batch_state, shopify, woocommerce
from .common import loads
from .orders import OrderFacts, customer_from, match_products, merge_customer, new_line, new_order

# the order topics whose adapter only upserts the order its payload describes
ORDER_TOPICS = {
    WebhookDelivery.Source.SHOPIFY: {
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/paid",
    },
    WebhookDelivery.Source.WOOCOMMERCE: {"order.created", "order.updated", "order.restored"},
}
FACTS = {
    WebhookDelivery.Source.SHOPIFY: shopify.order_facts,
    WebhookDelivery.Source.WOOCOMMERCE: woocommerce.order_facts,
}
LARGEST_QUANTITY = 2**31 - 1


@dataclass
class NewOrder:
    facts: OrderFacts
    products: dict[int, Product]  # id(line facts) -> product
    order: Order | None = None
    lines: list[OrderLine] = field(default_factory=list)


def plan(deliveries: list[WebhookDelivery], keys: dict[int, set[str]]) -> dict[int, NewOrder]:
    """The deliveries (by id) that bring a new order and may be written together; ``keys`` are their ordering keys."""
    catalog = batch_state.kept_catalog()
    if not catalog:
        return {}
    ways = _ways(catalog)
    seen = Counter(key for delivery_keys in keys.values() for key in delivery_keys)
    found: dict[int, NewOrder] = {}
    for delivery in deliveries:
        builder = FACTS.get(delivery.source)
        topics = ORDER_TOPICS.get(delivery.source, ())
        if builder is None or delivery.topic not in topics or any(seen[k] > 1 for k in keys[delivery.pk]):
            continue
        try:
            payload = loads(bytes(delivery.body))
            facts = builder(payload) if isinstance(payload, dict) else None
        except Exception:  # a payload that does not map: the one-by-one path records why
            facts = None
        if not _simple(facts):
            continue
        if all(_named_first_way(lf, ways) for lf in facts.lines):
            found[delivery.pk] = NewOrder(facts, match_products(facts.lines, catalog))
    return _not_kept(found)


def _ways(catalog: list[Product]) -> dict[str, set[str]]:
    return {
        "variant": {p.shopify_variant_id for p in catalog if p.shopify_variant_id},
        "woo": {p.woocommerce_id for p in catalog if p.woocommerce_id},
        "sku": {p.sku for p in catalog},
    }


def _named_first_way(lf, ways: dict[str, set[str]]) -> bool:
    """The line's product is in the catalog by the line's first way of naming it (a product another
    delivery of the batch makes for an unknown variant could not take the line from it)."""
    if lf.shopify_variant_id:
        return lf.shopify_variant_id in ways["variant"]
    if lf.woocommerce_id:
        return lf.woocommerce_id in ways["woo"]
    return bool(lf.sku) and lf.sku in ways["sku"]


def _simple(facts: OrderFacts | None) -> bool:
    return bool(
        facts is not None
        and facts.external_id
        and facts.lines
        and all(0 < lf.quantity <= LARGEST_QUANTITY for lf in facts.lines)
        and len({lf.external_id for lf in facts.lines}) == len(facts.lines)
    )


def _number(facts: OrderFacts) -> str:
    return (facts.number or facts.external_id)[:64]


def _not_kept(found: dict[int, NewOrder]) -> dict[int, NewOrder]:
    """Leave out the orders the store keeps (by channel id or by number) and numbers named twice."""
    if not found:
        return {}
    numbers = Counter(_number(new.facts) for new in found.values())
    ids = {new.facts.external_id for new in found.values()}
    channels = {new.facts.channel for new in found.values()}
    kept = Order.objects.filter(Q(channel__in=channels, external_id__in=ids) | Q(number__in=list(numbers)))
    taken_ids, taken_numbers = set(), set()
    for channel, external_id, number in kept.values_list("channel", "external_id", "number"):
        taken_ids.add((channel, external_id))
        taken_numbers.add(number)
    return {
        pk: new
        for pk, new in found.items()
        if (new.facts.channel, new.facts.external_id) not in taken_ids
        and _number(new.facts) not in taken_numbers
        and numbers[_number(new.facts)] == 1
    }


def write(run: list[WebhookDelivery], planned: dict[int, NewOrder], saved_fields: list[str]) -> None:
    """Write the run's new orders: customers, orders, lines and the deliveries' outcomes, one statement each."""
    news = [planned[delivery.pk] for delivery in run]
    customers = _customers([new.facts for new in news])
    for new in news:
        new.order = new_order(new.facts, customer=False)
        new.order.customer = customers.get(id(new.facts))
    copy_objects(Order, [new.order for new in news])
    pending: list[OrderLine] = []
    for new in news:
        cancelled = new.order.status == Order.Status.CANCELLED
        new.lines = [
            new_line(new.order, lf, new.products[id(lf)], new.facts, cancelled=cancelled) for lf in new.facts.lines
        ]
        if not cancelled:
            pending += [line for line in new.lines if line.state == OrderLine.State.PENDING]
    copy_objects(OrderLine, [line for new in news for line in new.lines])
    batch_state.reserve_later(pending)
    now = timezone.now()
    for delivery, new in zip(run, news, strict=True):
        delivery.attempts += 1
        delivery.status, delivery.error = WebhookDelivery.Status.PROCESSED, f"order {new.order.number}"[:2000]
        delivery.waiting_for, delivery.retry_at, delivery.processed_at = "", None, now
        delivery.resource_id, delivery.resource_updated_at = f"order:{new.facts.external_id}", new.facts.updated_at
    update_rows(
        WebhookDelivery, ({"id": d.pk, **{name: getattr(d, name) for name in saved_fields}} for d in run), saved_fields
    )


def _customers(facts_list: list[OrderFacts]) -> dict[int, Customer]:
    """The orders' customers, kept ones brought up to date and new ones inserted: ``{id(facts): customer}``."""
    wanted = {f.customer.email.strip().lower() for f in facts_list if f.customer and f.customer.email.strip()}
    if not wanted:
        return {}
    # the same condition as the partial unique index on lower(email), so that index serves the lookup
    kept = {
        c.email_ci: c
        for c in Customer.objects.exclude(email="").annotate(email_ci=Lower("email")).filter(email_ci__in=wanted)
    }
    new: dict[str, Customer] = {}
    changed: dict[int, set[str]] = {}
    chosen: dict[int, Customer] = {}
    for facts in facts_list:
        email = facts.customer.email.strip() if facts.customer else ""
        if not email:
            continue
        key = email.lower()
        if key in kept:
            customer = kept[key]
            changed.setdefault(customer.pk, set()).update(merge_customer(customer, facts.customer))
        elif key in new:
            customer = new[key]
            merge_customer(customer, facts.customer)
        else:
            customer = new[key] = customer_from(facts.customer)
        chosen[id(facts)] = customer
    copy_objects(Customer, list(new.values()))
    names = sorted(set().union(*changed.values())) if changed else []
    if names:
        rows = ({"id": c.pk, **{name: getattr(c, name) for name in names}} for c in kept.values() if changed.get(c.pk))
        update_rows(Customer, rows, names)
    return chosen
