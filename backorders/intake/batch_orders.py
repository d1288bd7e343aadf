"""Orders of a batch written together: a fixed number of statements for any number of them.

A run of deliveries that each bring an order the store does not keep yet is written set-based:
the customers, the orders, their lines and the deliveries' outcomes, one statement each (the
new lines' stock is reserved with the batch's others, ``batch_state``). A delivery qualifies
when its payload maps, no kept order has its channel id or its number, every line's product is
one the batch read at its start, and no other delivery of the batch is about the same order or
number. What is written is what ``upsert_order`` writes when it creates an order (the same
builders make the rows).

Edits of kept orders that give no stock back are written together too (``OrderEdit``): a
newer version of an open order with the same number, status and lines (no line added, removed
or shipped, no quantity lowered), which changes the address, totals, payment state, the lines'
names and prices, or raises quantities: the orders and lines are locked and read in one
statement each and written as ``upsert_order`` would write them (``apply_order_fields``,
``requantify_line``); a raised line waits for its stock with the batch's new lines. Every other
delivery is applied one by one.

The run is written in a savepoint. Should a statement fail (a value beyond a column's range, an
order or customer another writer inserted meanwhile), the savepoint is rolled back and the run
is applied one by one instead, so a bad delivery still fails alone and keeps its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from ..bulk import copy_objects, update_rows
from ..models import Customer, Order, OrderLine, Product, WebhookDelivery
from . import batch_state, shopify, woocommerce
from .common import loads
from .line_products import match_products
from .orders import (
    ORDER_FACT_FIELDS,
    OrderFacts,
    apply_order_fields,
    customer_from,
    line_values,
    merge_customer,
    new_line,
    new_order,
    requantify_line,
)

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
    pending: list[OrderLine] = field(default_factory=list)  # its lines that want stock


@dataclass
class OrderEdit:
    """A kept order's newer version that gives no stock back: its order and lines, locked, as read."""

    facts: OrderFacts
    order: Order
    lines: dict[str, OrderLine]  # by the channel's line id
    pending: list[OrderLine] = field(default_factory=list)  # its raised lines that want stock


# the order's fields an edit writes: those ``apply_order_fields`` sets, its customer and time of change
EDITED_ORDER_FIELDS = [*ORDER_FACT_FIELDS, "customer_id", "updated_at"]
EDITED_LINE_FIELDS = ["sku", "title", "unit_price", "quantity", "allocated", "state"]


def plan(deliveries: list[WebhookDelivery], keys: dict[int, set[str]]) -> dict[int, NewOrder | OrderEdit]:
    """The deliveries (by id) that bring a new order, or an edit giving no stock back, and may be
    written together; ``keys`` are their ordering keys."""
    seen = Counter(key for delivery_keys in keys.values() for key in delivery_keys)
    candidates: dict[int, OrderFacts] = {}
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
        if _simple(facts):
            candidates[delivery.pk] = facts
    if not candidates:
        return {}
    kept, numbers = _kept_orders(candidates.values())
    found: dict[int, NewOrder | OrderEdit] = _edits(
        {pk: facts for pk, facts in candidates.items() if (facts.channel, facts.external_id) in kept}, kept
    )
    catalog = batch_state.kept_catalog()
    if catalog:
        ways = _ways(catalog)
        news = {
            pk: NewOrder(facts, match_products(facts.lines, catalog))
            for pk, facts in candidates.items()
            if (facts.channel, facts.external_id) not in kept and all(_named_first_way(lf, ways) for lf in facts.lines)
        }
        found.update(_not_kept(news, set(kept), numbers))
    return found


def _kept_orders(facts_list) -> tuple[dict[tuple[str, str], Order], set[str]]:
    """The kept orders the facts name by channel id, locked as ``upsert_order`` locks one (in id
    order), and the numbers kept orders hold among those the facts give: one statement."""
    facts_list = list(facts_list)
    ids = {facts.external_id for facts in facts_list}
    channels = {facts.channel for facts in facts_list}
    numbers = {_number(facts) for facts in facts_list}
    named = Q(channel__in=channels, external_id__in=ids) | Q(number__in=numbers)
    by_key, taken = {}, set()
    for order in Order.objects.select_for_update(no_key=True).filter(named).order_by("pk"):
        taken.add(order.number)
        if order.external_id in ids:
            by_key[(order.channel, order.external_id)] = order
    return by_key, taken


def _edits(candidates: dict[int, OrderFacts], kept: dict[tuple[str, str], Order]) -> dict[int, OrderEdit]:
    """The candidates whose edit gives no stock back, with their kept lines (locked, one statement)."""
    if not candidates:
        return {}
    orders = {pk: kept[(facts.channel, facts.external_id)] for pk, facts in candidates.items()}
    lines: dict[int, list[OrderLine]] = {order.pk: [] for order in orders.values()}
    held = OrderLine.objects.select_for_update(no_key=True).filter(order__in=[o.pk for o in orders.values()])
    for line in held.order_by("pk"):
        lines[line.order_id].append(line)
    found = {}
    for pk, facts in candidates.items():
        order = orders[pk]
        by_id = {line.external_id: line for line in lines[order.pk]}
        if len(by_id) == len(lines[order.pk]) and _gives_no_stock_back(facts, order, by_id):
            found[pk] = OrderEdit(facts, order, by_id)
    return found


def _gives_no_stock_back(facts: OrderFacts, order: Order, lines: dict[str, OrderLine]) -> bool:
    """A newer version of an open order keeping its number, status and lines, none of them lowered."""
    if facts.updated_at is None or (order.channel_updated_at and facts.updated_at < order.channel_updated_at):
        return False
    if order.status == Order.Status.CANCELLED or facts.status != order.status:
        return False
    if (facts.number or order.number)[:64] != order.number or "" in lines:
        return False
    if {lf.external_id[:64] for lf in facts.lines} != set(lines):
        return False
    for lf in facts.lines:
        line = lines[lf.external_id[:64]]
        if line.state in (OrderLine.State.CANCELLED, OrderLine.State.SHIPPED):
            continue  # left as it is, as upsert_order leaves it
        if lf.removed or lf.fulfilled or lf.quantity < line.quantity:
            return False
    return True


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


def _not_kept(
    found: dict[int, NewOrder], taken_ids: set[tuple[str, str]], taken_numbers: set[str]
) -> dict[int, NewOrder]:
    """Leave out the orders the store keeps (by channel id or by number) and numbers named twice."""
    numbers = Counter(_number(new.facts) for new in found.values())
    return {
        pk: new
        for pk, new in found.items()
        if (new.facts.channel, new.facts.external_id) not in taken_ids
        and _number(new.facts) not in taken_numbers
        and numbers[_number(new.facts)] == 1
    }


def write(run: list[WebhookDelivery], planned: dict[int, NewOrder | OrderEdit], saved_fields: list[str]) -> None:
    """Write the run's new orders and edits: customers, orders, lines and the deliveries' outcomes, a
    statement or two each."""
    steps = [planned[delivery.pk] for delivery in run]
    news = [step for step in steps if isinstance(step, NewOrder)]
    edits = [step for step in steps if isinstance(step, OrderEdit)]
    customers = _customers([step.facts for step in steps])
    for new in news:
        new.order = new_order(new.facts, customer=False)
        new.order.customer = customers.get(id(new.facts))
    copy_objects(Order, [new.order for new in news])
    for new in news:
        cancelled = new.order.status == Order.Status.CANCELLED
        new.lines = [
            new_line(new.order, lf, new.products[id(lf)], new.facts, cancelled=cancelled) for lf in new.facts.lines
        ]
        if not cancelled:
            new.pending = [line for line in new.lines if line.state == OrderLine.State.PENDING]
    copy_objects(OrderLine, [line for new in news for line in new.lines])
    now = timezone.now()
    _write_edits(edits, customers, now)
    _reserve_in_arrival_order(steps)
    for delivery, step in zip(run, steps, strict=True):
        delivery.attempts += 1
        delivery.status, delivery.error = WebhookDelivery.Status.PROCESSED, f"order {step.order.number}"[:2000]
        delivery.waiting_for, delivery.retry_at, delivery.processed_at = "", None, now
        delivery.resource_id, delivery.resource_updated_at = f"order:{step.facts.external_id}", step.facts.updated_at
    update_rows(
        WebhookDelivery, ({"id": d.pk, **{name: getattr(d, name) for name in saved_fields}} for d in run), saved_fields
    )


def _write_edits(edits: list[OrderEdit], customers: dict[int, Customer], now) -> None:
    """The edited orders' fields and their lines' names, prices and quantities, as ``upsert_order``
    sets them; a raised line that now wants stock is reserved with the batch's new lines."""
    changed_lines: list[OrderLine] = []
    for edit in edits:
        apply_order_fields(edit.order, edit.facts, customer=False)
        if edit.facts.customer is not None:
            edit.order.customer = customers.get(id(edit.facts))
        edit.order.updated_at = now
        for lf in edit.facts.lines:
            line = edit.lines[lf.external_id[:64]]
            if line.state in (OrderLine.State.CANCELLED, OrderLine.State.SHIPPED):
                continue
            was = line_values(line)
            line.sku, line.title = lf.sku[:128] or line.sku, lf.title[:255] or line.title
            line.unit_price = max(lf.unit_price, Decimal("0.00"))
            if lf.quantity != line.quantity:
                requantify_line(line, lf.quantity)  # raised: no unit is given back
                if line.state == OrderLine.State.PENDING:
                    edit.pending.append(line)
            if line_values(line) != was:
                changed_lines.append(line)
    update_rows(
        Order,
        ({"id": e.order.pk, **{name: getattr(e.order, name) for name in EDITED_ORDER_FIELDS}} for e in edits),
        EDITED_ORDER_FIELDS,
    )
    update_rows(
        OrderLine,
        ({"id": line.pk, **{name: getattr(line, name) for name in EDITED_LINE_FIELDS}} for line in changed_lines),
        EDITED_LINE_FIELDS,
    )


def _reserve_in_arrival_order(steps: list[NewOrder | OrderEdit]) -> None:
    """The lines that want stock, reserved with the batch's others as one delivery after another
    would take it: served by order then line, so a raised line (an older order) is served before
    the new orders of the batch; those that came before its edit (in this run or earlier in the
    batch) are reserved first."""
    waiting_new = True  # lines of earlier runs may wait
    for step in steps:
        if not step.pending:
            continue
        if isinstance(step, OrderEdit) and waiting_new:
            batch_state.reserve_now(settled=False)
            waiting_new = False
        batch_state.reserve_later(step.pending)
        waiting_new = waiting_new or isinstance(step, NewOrder)


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
