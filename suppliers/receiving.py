"""Receiving a purchase order: its units go on hand and to waiting lines, and the order records it.

One transaction for the whole receipt: either every line's units are received, allocated and
counted on the purchase order, or nothing is. Locks follow the store's order: product rows in
primary-key order (``backorders.allocation`` takes them), then the purchase order and its lines.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from backorders.allocation import AllocationOutcome, receive_stock
from backorders.models import Product

from .models import PurchaseOrder, PurchaseOrderLine

RECEIVABLE = (PurchaseOrder.Status.APPROVED, PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIAL)


class ReceivingError(ValueError):
    """A receipt that cannot be recorded as given; ``errors`` maps a line id (or None) to reasons."""

    def __init__(self, errors: dict[int | None, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


@transaction.atomic
def receive_purchase_order(
    purchase_order_id: int, quantities: dict[int, int], *, user=None, approve: bool = False
) -> list[AllocationOutcome]:
    """Receive ``quantities`` (purchase order line id -> units) against a purchase order."""
    wanted = {line_id: units for line_id, units in quantities.items() if units}
    if any(units < 0 for units in wanted.values()):
        raise ReceivingError({None: "Quantities cannot be negative."})
    if not wanted:
        raise ReceivingError({None: "Enter the units received on at least one line."})
    product_ids = dict(
        PurchaseOrderLine.objects.filter(purchase_order_id=purchase_order_id, pk__in=wanted).values_list(
            "pk", "product_id"
        )
    )
    unknown = set(wanted) - set(product_ids)
    if unknown:
        raise ReceivingError({None: f"Line(s) {sorted(unknown)} are not on this purchase order."})
    list(Product.objects.select_for_update(no_key=True).filter(pk__in=product_ids.values()).order_by("pk"))
    order = PurchaseOrder.objects.select_for_update().get(pk=purchase_order_id)
    if order.status not in RECEIVABLE:
        raise ReceivingError({None: f"Purchase order {order.reference} is {order.get_status_display().lower()}."})
    lines = {line.pk: line for line in order.lines.select_for_update().select_related("product").order_by("pk")}
    errors = {
        line_id: f"{lines[line_id].product.sku}: {units} is more than the {left} still expected."
        for line_id, units in wanted.items()
        if units > (left := lines[line_id].quantity - lines[line_id].received_quantity)
    }
    if errors:
        raise ReceivingError(errors)
    outcomes = []
    now = timezone.now()
    for line_id in sorted(wanted, key=lambda pk: (lines[pk].product_id, pk)):
        units = wanted[line_id]
        line = lines[line_id]
        outcomes.append(receive_stock(line.product_id, units, reference=order.reference, approve=approve, user=user))
        PurchaseOrderLine.objects.filter(pk=line_id).update(received_quantity=F("received_quantity") + units)
        Product.objects.filter(pk=line.product_id).update(on_order=Greatest(F("on_order") - units, 0))
        line.received_quantity += units
    complete = all(line.received_quantity == line.quantity for line in lines.values())
    order.status = PurchaseOrder.Status.RECEIVED if complete else PurchaseOrder.Status.PARTIAL
    if complete:
        order.received_at = max(now, order.ordered_at)
    order.save(update_fields=["status", "received_at"])
    return outcomes
