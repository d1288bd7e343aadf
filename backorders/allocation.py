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
