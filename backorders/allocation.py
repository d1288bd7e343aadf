"""Stock reservation: order lines claim free units, exactly, under concurrency.

``reserve_new_lines`` is what intake calls when order lines arrive from any channel: each line
claims what is free, at once, so the one available-to-promise number drops for every channel.
Product rows are locked in primary-key order (a fixed order, so two transactions never wait
on each other in a cycle) and the CHECK constraints back the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import OrderLine, Product


@transaction.atomic
def reserve_new_lines(lines: Iterable[OrderLine]) -> list[OrderLine]:
    """Reserve free stock for lines that have not claimed any yet; the rest become backordered."""
    pending = [line for line in lines if line.state == OrderLine.State.PENDING]
    if not pending:
        return []
    product_ids = sorted({line.product_id for line in pending})
    products = {p.pk: p for p in Product.objects.select_for_update().filter(pk__in=product_ids).order_by("pk")}
    now = timezone.now()
    for line in sorted(pending, key=lambda line: (line.product_id, line.pk)):
        product = products[line.product_id]
        take = max(0, min(line.quantity - line.allocated, product.on_hand - product.allocated))
        product.allocated += take
        line.allocated += take
        if line.allocated == line.quantity:
            line.state = OrderLine.State.ALLOCATED
        else:
            line.state = OrderLine.State.PARTIAL if line.allocated else OrderLine.State.BACKORDERED
            line.backordered_at = line.backordered_at or now
    Product.objects.bulk_update(products.values(), ["allocated"])
    OrderLine.objects.bulk_update(pending, ["allocated", "state", "backordered_at"])
    return pending


@transaction.atomic
def receive_stock(product_id: int, quantity: int, *, reference: str = "") -> list[OrderLine]:
    """Add received units to ``on_hand`` and give them to waiting lines, oldest order first."""
    if quantity <= 0:
        raise ValueError("A receipt adds at least one unit")
    product = Product.objects.select_for_update().get(pk=product_id)
    product.on_hand += quantity
    product.save(update_fields=["on_hand", "updated_at"])
    return _allocate_waiting(product)


@transaction.atomic
def apply_stock_count(product_id: int, on_hand: int, *, reference: str = "") -> list[OrderLine]:
    """Set ``on_hand`` to a counted level (a channel's inventory update or a CSV) and allocate any rise.

    A count below what is already allocated keeps the allocation whole: ``on_hand`` stops at the
    allocated units, and the difference is left for the owner to reconcile.
    """
    if on_hand < 0:
        raise ValueError("A stock count cannot be negative")
    product = Product.objects.select_for_update().get(pk=product_id)
    product.on_hand = max(on_hand, product.allocated)
    product.save(update_fields=["on_hand", "updated_at"])
    return _allocate_waiting(product)


def _allocate_waiting(product: Product) -> list[OrderLine]:
    """Give the product's free units to waiting lines, oldest order first. Caller holds the row lock."""
    free = product.on_hand - product.allocated
    if free <= 0:
        return []
    lines = list(
        OrderLine.objects.waiting()
        .filter(product=product)
        .select_for_update(of=("self",))
        .order_by("order__placed_at", "pk")
    )
    changed = []
    for line in lines:
        if free <= 0:
            break
        take = min(free, line.quantity - line.allocated)
        line.allocated += take
        line.state = OrderLine.State.ALLOCATED if line.allocated == line.quantity else OrderLine.State.PARTIAL
        free -= take
        changed.append(line)
    product.allocated = product.on_hand - free
    product.save(update_fields=["allocated", "updated_at"])
    OrderLine.objects.bulk_update(changed, ["allocated", "state"])
    return changed


@transaction.atomic
def release_order(order_id: int) -> list[OrderLine]:
    """Give a cancelled order's unshipped units back to stock; its open lines become cancelled.

    Each line returns ``allocated - shipped`` units to its product's free stock (shipped units
    have left the shelf). Product rows are locked in primary-key order, as everywhere here.
    Idempotent: lines already cancelled or fully shipped are left as they are.
    """
    from .models import Order  # here, so this addition leaves the module header alone

    order = Order.objects.select_for_update().get(pk=order_id)
    lines = list(
        OrderLine.objects.select_for_update()
        .filter(order_id=order_id)
        .exclude(state__in=[OrderLine.State.CANCELLED, OrderLine.State.SHIPPED])
        .order_by("product_id", "pk")
    )
    if not lines:
        return []
    product_ids = sorted({line.product_id for line in lines})
    products = {p.pk: p for p in Product.objects.select_for_update().filter(pk__in=product_ids).order_by("pk")}
    when = order.cancelled_at or timezone.now()
    for line in lines:
        products[line.product_id].allocated -= line.allocated - line.shipped
        line.allocated = line.shipped
        line.state = OrderLine.State.CANCELLED
        line.cancelled_at = line.cancelled_at or when
    Product.objects.bulk_update(products.values(), ["allocated"])
    OrderLine.objects.bulk_update(lines, ["allocated", "state", "cancelled_at"])
    return lines
