"""Apply an order, as any channel describes it, to the store: idempotent and order-insensitive.

``upsert_order`` is the one path for Shopify, WooCommerce and CSV. It holds the order's row lock
while it works, ignores a version older than the one kept (``Order.channel_updated_at``),
upserts lines by their channel id, reserves stock for new lines and releases it when the order
is cancelled. Delivered twice, or out of order, the result is that of one in-order delivery.

Locks follow the store's one order (``backorders.allocation``): the products the order's lines
and the payload name first (in id order), then the order, then its lines. Units an edit frees
(a lower quantity, a line removed) go back with a trail row and are planned again for the
lines that wait, as a cancellation's are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from backorders.formats.phones import read_phone

from ..allocation import give_back, lock_products, release_order, reserve_new_lines, trail_entry
from ..models import Customer, Order, OrderLine, Product
from . import batch_state
from .common import MappingError
from .line_products import find_or_create_product, known_products
from .one_order import adopt, named_by_csv


@dataclass
class CustomerFacts:
    email: str = ""
    name: str = ""
    phone: str = ""
    orders_count: int | None = None
    shopify_id: str = ""
    woocommerce_id: str = ""


@dataclass
class LineFacts:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    shopify_variant_id: str = ""
    woocommerce_id: str = ""
    variant_title: str = ""
    removed: bool = False  # the channel edited the line away (Shopify current_quantity 0)
    fulfilled: bool = False  # the channel shipped it: the units have left the shelf


@dataclass
class OrderFacts:
    channel: str
    external_id: str
    number: str
    placed_at: datetime
    updated_at: datetime | None
    status: str = Order.Status.OPEN
    cancelled_at: datetime | None = None
    payment_state: str = Order.PaymentState.PAID
    currency: str = "USD"
    subtotal: Decimal = Decimal("0.00")
    total: Decimal = Decimal("0.00")
    shipping_method: str = ""
    shipping_name: str = ""
    shipping_city: str = ""
    shipping_region: str = ""
    shipping_postal_code: str = ""
    shipping_country: str = ""
    customer: CustomerFacts | None = None
    lines: list[LineFacts] = field(default_factory=list)


@dataclass
class OrderResult:
    order: Order | None
    applied: bool
    reason: str = ""
    unknown_skus: list[str] = field(default_factory=list)


def upsert_order(facts: OrderFacts, *, replace_only_own: bool = False) -> OrderResult:
    """Make the store's order match ``facts``. ``replace_only_own`` (CSV) leaves channel-fed orders alone."""
    with batch_state.atomic():
        return _upsert_order(facts, replace_only_own=replace_only_own)


def _upsert_order(facts: OrderFacts, *, replace_only_own: bool) -> OrderResult:
    if not facts.external_id:
        raise MappingError("the order has no id")
    if not facts.lines:
        raise MappingError(f"order {facts.number or facts.external_id} has no line items")
    # products before the order and its lines: the order every allocation writer takes them in
    named, kept_lines = _products_named(facts)
    locked = _lock_products(named)
    order, created = _lock_or_create(facts, maybe_kept=kept_lines)
    if order is None:
        return OrderResult(None, False, "a newer version of this order is already kept")
    if created:  # written whole by _lock_or_create: no lines yet, nothing to release
        unknown = _upsert_lines(order, facts, cancelled=order.status == Order.Status.CANCELLED, new=True)
        return OrderResult(order, True, unknown_skus=unknown)
    # a kept order's lines and stock are read below: the batch's new lines take their stock first
    batch_state.reserve_now(settled=False)
    batch_state.forget_catalog()  # an adopted CSV order's products may have learnt a variant id
    if replace_only_own and order.channel_updated_at is not None:
        return OrderResult(order, False, f"order {order.number} is already kept from {order.get_channel_display()}")
    if facts.updated_at and order.channel_updated_at and facts.updated_at < order.channel_updated_at:
        return OrderResult(order, False, "a newer version of this order is already kept")

    # a line added meanwhile by another writer may name a product not locked yet (rare): lock it now
    held = set(OrderLine.objects.filter(order=order).values_list("product_id", flat=True))
    if not held <= set(locked):
        _lock_products(held)
    was_cancelled = order.status == Order.Status.CANCELLED
    apply_order_fields(order, facts)
    order.save()
    unknown = _upsert_lines(order, facts, cancelled=was_cancelled or order.status == Order.Status.CANCELLED)
    if order.status == Order.Status.CANCELLED and not was_cancelled:
        release_order(order.pk)
    return OrderResult(order, True, unknown_skus=unknown)


def _lock_products(ids: set[int]) -> set[int]:
    """Lock the products (those a batch locked at its start are held already). Returns the ids held."""
    state = batch_state.current()
    ids = set(ids)
    if state is not None:
        lock_products(ids - state.locked_products)
    else:
        lock_products(ids)
    return ids


def _products_named(facts: OrderFacts) -> tuple[set[int], bool]:
    """The ids of the products this order's kept lines and the payload's lines name (read, not locked).

    And whether any kept line was found: an order (or the CSV order it would adopt) is never kept
    without lines, so none found means there is no order to look for before inserting it.
    """
    named = {product.pk for product in known_products(facts.lines).values()}
    kept = Q(order__channel=facts.channel, order__external_id=facts.external_id)
    csv = named_by_csv(facts.channel, facts.number)
    held = set(OrderLine.objects.filter(kept | csv if csv else kept).values_list("product_id", flat=True))
    return named | held, bool(held)


def _lock_or_create(facts: OrderFacts, *, maybe_kept: bool = True) -> tuple[Order | None, bool]:
    """The order, locked; or a new one written with every field at once. ``(order, created)``.

    ``maybe_kept`` False: no line of it was found just now, so it is inserted without looking
    first (one written meanwhile by another writer is found through the unique index, below).
    """
    # FOR NO KEY UPDATE: a shipment or line being inserted for this order elsewhere may keep its key share
    kept = Order.objects.select_for_update(no_key=True).filter(channel=facts.channel, external_id=facts.external_id)
    order = (kept.first() or adopt(facts)) if maybe_kept else None
    if order is not None:
        return order, False
    order = new_order(facts)
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            return order, True
    except IntegrityError:
        # created at the same moment by another worker (or imported from a CSV under the same
        # number): wait for its lock, then carry on with it
        order = kept.first() or adopt(facts)
        if order is None:
            holder = Order.objects.filter(number=facts.number).exclude(external_id=facts.external_id).first()
            if holder is None:
                raise
            raise MappingError(
                f"order {facts.external_id} is numbered {facts.number}, which {holder.get_channel_display()} "
                f"order {holder.external_id} already holds: one number is one order"
            ) from None
        return order, False


def new_order(facts: OrderFacts, *, customer: bool = True) -> Order:
    """An order the store does not keep yet, with every field the facts give (not saved).

    ``customer`` False: its customer is left for the caller to set.
    """
    order = Order(
        channel=facts.channel,
        external_id=facts.external_id,
        number=facts.number or facts.external_id,
        placed_at=facts.placed_at,
        status=Order.Status.OPEN,
    )
    apply_order_fields(order, facts, customer=customer)
    return order


# the order's fields ``apply_order_fields`` sets from the facts (its customer aside)
ORDER_FACT_FIELDS = [
    "number",
    "placed_at",
    "currency",
    "subtotal",
    "total",
    "payment_state",
    "shipping_method",
    "shipping_name",
    "shipping_city",
    "shipping_region",
    "shipping_postal_code",
    "shipping_country",
    "channel_updated_at",
    "status",
    "cancelled_at",
]


def apply_order_fields(order: Order, facts: OrderFacts, *, customer: bool = True) -> None:
    order.number = (facts.number or order.number)[:64]
    order.placed_at = facts.placed_at
    order.currency = (facts.currency or "USD")[:3].upper()
    order.subtotal = max(facts.subtotal, Decimal("0.00"))
    order.total = max(facts.total, Decimal("0.00"))
    order.payment_state = facts.payment_state
    order.shipping_method = facts.shipping_method[:128]
    order.shipping_name = facts.shipping_name[:255]
    order.shipping_city = facts.shipping_city[:128]
    order.shipping_region = facts.shipping_region[:64]
    order.shipping_postal_code = facts.shipping_postal_code[:32]
    order.shipping_country = facts.shipping_country[:2].upper()
    if facts.updated_at:
        order.channel_updated_at = facts.updated_at
    if order.status == Order.Status.CANCELLED:
        pass  # a cancellation is final: a late "open" version never brings the order back
    elif facts.status == Order.Status.CANCELLED:
        order.status = Order.Status.CANCELLED
        order.cancelled_at = facts.cancelled_at or facts.updated_at or facts.placed_at
    else:
        order.status = facts.status
    if customer and facts.customer is not None:
        order.customer = _upsert_customer(facts.customer)


def _upsert_customer(facts: CustomerFacts) -> Customer | None:
    email = facts.email.strip()
    if not email:
        return None
    # the same condition as the partial unique index on lower(email), so that index serves the lookup
    customer = (
        Customer.objects.exclude(email="").annotate(email_ci=Lower("email")).filter(email_ci=email.lower()).first()
    )
    if customer is None:
        try:
            with transaction.atomic():
                new = customer_from(facts)
                new.save(force_insert=True)
                return new
        except IntegrityError:
            customer = Customer.objects.exclude(email="").annotate(email_ci=Lower("email")).get(email_ci=email.lower())
    changed = merge_customer(customer, facts)
    if changed:
        customer.save(update_fields=changed)
    return customer


def _customer_known(facts: CustomerFacts) -> dict:
    known = {
        "name": facts.name[:255],
        "shopify_id": facts.shopify_id,
        "woocommerce_id": facts.woocommerce_id,
    }
    known = {name: value for name, value in known.items() if value}
    if facts.phone.strip():
        reading = read_phone(facts.phone)
        known.update(phone=reading.phone, phone_unreadable=reading.unreadable)
    return known


def customer_from(facts: CustomerFacts) -> Customer:
    """A customer the store does not keep yet (not saved); ``facts.email`` is not blank."""
    email = facts.email.strip()
    return Customer(email=email[:254], orders_count=max(facts.orders_count or 0, 0), **_customer_known(facts))


def merge_customer(customer: Customer, facts: CustomerFacts) -> list[str]:
    """Bring a kept customer up to what the order says; returns the names of the fields changed."""
    known = _customer_known(facts)
    if facts.orders_count is not None:
        known["orders_count"] = max(customer.orders_count, facts.orders_count)
    changed = [name for name, value in known.items() if getattr(customer, name) != value]
    for name in changed:
        setattr(customer, name, known[name])
    return changed


def _upsert_lines(order: Order, facts: OrderFacts, *, cancelled: bool, new: bool = False) -> list[str]:
    """Upsert the order's lines; the caller holds the products' locks (taken before the order's).

    Units an edit gives back (a line removed, a quantity lowered) are released with a trail row
    and planned again for the waiting lines before new lines reserve what is left.
    """
    freed: dict[int, list[dict]] = defaultdict(list)
    shipped: dict[int, list[dict]] = defaultdict(list)
    lines = [] if new else order.lines.select_for_update(no_key=True).order_by("pk")
    existing = {line.external_id: line for line in lines if line.external_id}
    unknown: list[str] = []
    new_lines: list[OrderLine] = []
    created_lines: list[OrderLine] = []
    for lf in facts.lines:
        if lf.quantity <= 0 and not lf.removed:
            raise MappingError(f"line {lf.external_id} has quantity {lf.quantity}")
    products = known_products([lf for lf in facts.lines if lf.external_id not in existing])
    for lf in facts.lines:
        line = existing.get(lf.external_id)
        if line is None:
            product = products.get(id(lf))
            if product is None:
                product, created = find_or_create_product(lf, order.channel)
                if created:
                    unknown.append(product.sku)
            line = new_line(order, lf, product, facts, cancelled=cancelled)
            created_lines.append(line)
            if line.state == OrderLine.State.PENDING:
                new_lines.append(line)
            continue
        if line.state in (OrderLine.State.CANCELLED, OrderLine.State.SHIPPED):
            continue
        was = line_values(line)
        line.sku, line.title = lf.sku[:128] or line.sku, lf.title[:255] or line.title
        line.unit_price = max(lf.unit_price, Decimal("0.00"))
        if cancelled:
            line.save()
            continue  # release_order gives the units back
        if lf.removed:
            _note_freed(freed, line, order, _release_line(line, when=facts.updated_at or order.placed_at))
            continue
        if lf.fulfilled:
            _note_freed(shipped, line, order, _ship_line(line, when=facts.updated_at or order.placed_at))
            continue
        if lf.quantity != line.quantity:
            _note_freed(freed, line, order, requantify_line(line, lf.quantity))
            if line.state == OrderLine.State.PENDING:
                new_lines.append(line)
        if line_values(line) != was:  # an edit elsewhere in the order leaves this line as it is
            line.save()
    OrderLine.objects.bulk_create(created_lines)  # one statement for the order's new lines
    if freed:
        note = f"Order {order.number} edited: {{units}} unit(s) back to free stock."
        give_back(freed, reference=order.number, note=note, replan_reference=f"edit of {order.number}")
    if shipped:
        note = f"Order {order.number}: shipped by the channel, {{units}} unit(s) no longer held."
        give_back(shipped, reference=order.number, note=note, replan=False)
    if new_lines and not cancelled and not batch_state.reserve_later(new_lines):
        reserve_new_lines(new_lines)
    return unknown


def line_values(line: OrderLine) -> tuple:
    """What an edit may change on a kept line."""
    return (line.sku, line.title, line.unit_price, line.quantity, line.allocated, line.state)


def new_line(order: Order, lf: LineFacts, product: Product, facts: OrderFacts, *, cancelled: bool) -> OrderLine:
    """A line the store does not keep yet, as the channel describes it (not saved); pending when it wants stock."""
    # a line edited away before we saw it is kept, cancelled, as the channel keeps it
    gone = cancelled or lf.removed
    state = OrderLine.State.CANCELLED if gone else OrderLine.State.PENDING
    shipped = lf.quantity if lf.fulfilled and not gone else 0
    return OrderLine(
        order=order,
        product=product,
        external_id=lf.external_id[:64],
        sku=lf.sku[:128],
        title=lf.title[:255],
        quantity=lf.quantity,
        unit_price=max(lf.unit_price, Decimal("0.00")),
        state=OrderLine.State.SHIPPED if shipped else state,
        allocated=shipped,
        shipped=shipped,
        shipped_at=(facts.updated_at or order.placed_at) if shipped else None,
        cancelled_at=(order.cancelled_at if cancelled else facts.updated_at or order.placed_at) if gone else None,
    )


def _note_freed(freed: dict, line: OrderLine, order: Order, units: int) -> None:
    if units:
        freed[line.product_id].append(trail_entry(line, order.number, -units))


def requantify_line(line: OrderLine, quantity: int) -> int:
    """An edited quantity: give back units above it, or ask for more below it. Returns the units given back."""
    excess = 0
    if quantity < line.allocated:
        excess = line.allocated - max(quantity, line.shipped)
        line.allocated -= excess
    line.quantity = max(quantity, line.shipped, 1)
    if line.allocated < line.quantity:
        line.state = OrderLine.State.PENDING  # reserve_new_lines takes what it can of the rest
    else:
        line.state = OrderLine.State.ALLOCATED
    return excess


def _release_line(line: OrderLine, *, when: datetime) -> int:
    """The channel removed the line: it is cancelled. Returns the units it gives back."""
    unshipped = line.allocated - line.shipped
    line.allocated = line.shipped
    line.state = OrderLine.State.CANCELLED
    line.cancelled_at = when
    line.save()
    return unshipped


def _ship_line(line: OrderLine, *, when: datetime) -> int:
    """The channel shipped the whole line: its reserved units leave the product's allocation (returned)."""
    unshipped = line.allocated - line.shipped
    line.allocated = line.shipped = line.quantity
    line.state = OrderLine.State.SHIPPED
    line.shipped_at = line.shipped_at or when
    line.save()
    return unshipped
