"""What the cadence reads about parcels and parts of an order, set-based (one query each).

* ``parcels``: per order, the shipment a message quotes, and which orders a carrier scan shows
  moving (a label alone is not a shipment: no "on its way" until a scan);
* ``shipped_parts``: per order, what has shipped, so that when part of an order ships and part
  waits the customer is told which part ships and which waits;
* ``discontinued``: an item that will not come back gets one plain message, never "a date will come".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from backorders.bulk import InList
from backorders.formats.text import product_name
from backorders.models import OrderLine, Shipment


def parcels(order_ids: Iterable[int]) -> tuple[dict[int, Shipment], set[int]]:
    """(the shipment to quote per order: its newest moving one, else its newest; the moving orders)."""
    shipments: dict[int, Shipment] = {}
    moving: set[int] = set()
    order_ids = set(order_ids)
    if not order_ids:
        return shipments, moving
    for shipment in Shipment.objects.filter(InList("order_id", order_ids)).order_by("-label_created_at", "-pk"):
        order_id = shipment.order_id
        if order_id in moving:
            continue
        if shipment.carrier_has_it:
            moving.add(order_id)
            shipments[order_id] = shipment
        else:
            shipments.setdefault(order_id, shipment)
    return shipments, moving


def shipped_parts(order_ids: Iterable[int]) -> dict[int, list[tuple[str, int]]]:
    """Per order, (product name, units shipped) of every line with shipped units, in line order."""
    order_ids = set(order_ids)
    parts: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if not order_ids:
        return parts
    rows = (
        OrderLine.objects.filter(InList("order_id", order_ids), shipped__gt=0)
        .order_by("pk")
        .values_list("order_id", "title", "product__title", "product__variant_title", "shipped")
    )
    for order_id, title, product_title, variant, shipped in rows:
        parts[order_id].append((product_name(title or product_title, variant), shipped))
    return parts


def discontinued(line, case: dict | None) -> bool:
    """The item will not come back: discontinued in the catalog, or the order's case says so."""
    return line.product.status == "discontinued" or (case is not None and case.get("category") == "discontinued")


@dataclass
class PartialShipments:
    due: dict[int, dict] = field(default_factory=dict)  # waiting line -> its part-shipped message's render kwargs
    quiet: set[int] = field(default_factory=set)  # shipped lines whose own "on its way" is told (or to be) otherwise


def partial_shipments(lines, existing, *, waiting, moving: set[int], etas, today, step: str) -> PartialShipments:
    """When part of an order has shipped (a carrier scan shows it moving) and part still waits, the first
    waiting line of the order carries one message saying which part ships and which waits; the shipped
    lines of such an order get no separate "on its way" (nor later, for what that message already told)."""
    from packets.notify.drafting import customer_date

    result = PartialShipments()
    by_order: dict[int, list] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(line)
    split = {order_id for order_id, group in by_order.items() if order_id in moving and any(map(waiting, group))}
    shipped = shipped_parts(split)
    told_at: dict[int, object] = {}
    for order_id, group in by_order.items():
        for line in group:
            for row in existing[line.pk]:
                if row["step"] == step and row["status"] != "cancelled":
                    told_at[order_id] = max(told_at.get(order_id, row["created_at"]), row["created_at"])
    for order_id, group in by_order.items():
        still_waiting = order_id in split and bool(shipped.get(order_id))
        for line in group:
            if line.state != OrderLine.State.SHIPPED:
                continue
            told = order_id in told_at and line.shipped_at is not None and line.shipped_at <= told_at[order_id]
            if still_waiting or told:
                result.quiet.add(line.pk)
        if not still_waiting:
            continue
        waits = [line for line in group if waiting(line)]
        anchor = waits[0]
        if any(row["step"] == step for row in existing[anchor.pk]):
            continue
        rest = []
        for line in waits:
            eta = etas.get(line.product_id)
            when = f"between {customer_date(eta.start, today)} and {customer_date(eta.end, today)}" if eta else ""
            rest.append((line.title or line.product.display_title, line.quantity - line.shipped, when))
        result.due[anchor.pk] = {"eta": etas.get(anchor.product_id), "ships": shipped[order_id], "waits": rest}
    return result
