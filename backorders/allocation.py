"""Stock allocation: who gets units, exactly once, under concurrency, with a trail.

Entry points (each owns its transaction):

- ``reserve_new_lines(lines)``: a new sale on any channel claims what is *available to promise*
  (``reserve_lines(ids)`` for many lines at once, as an import makes them).
- ``receive_stock(product_id, quantity)``: units arrive (a purchase order, the command line).
- ``apply_stock_count(product_id, on_hand)``: a channel or a count says how many are on hand.
- ``approve_allocation(allocation_id, user=...)``: the owner applies a proposal.
- ``release_order(order_id)``: a cancelled order gives its units back.
- ``give_back(released, ...)``: units any change freed (a cancellation, an order edit lowering a
  quantity or removing a line) are recorded on the trail and planned again for waiting lines.

Available to promise is the one number every channel sells from: units on hand that no line holds
and no waiting line is entitled to (``on_hand - allocated - waiting demand``, never below zero).
Free units that waiting lines are entitled to stay free while the owner reviews a proposal; a new
sale cannot take them.

Stock that arrives is on hand at once. Its allocation waits for the owner when supply is short of
demand (a ``StockAllocation`` proposal); when it covers every waiting line it applies at once if
``StorePolicy.auto_apply_allocation`` allows. Who comes first is ``allocation_plan``'s business.

Concurrency: every writer locks product rows first, in primary-key order, then order rows, then
order lines (intake's ``upsert_order`` too: it locks the products an order names before the
order); the queue's bookkeeping (the follow-up mark) is written after commit, outside these
locks. All line and product arithmetic happens under those locks, and CHECK constraints
(0 <= allocated <= on_hand, line allocated <= quantity) refuse anything that slips through. No lock
is held across network I/O: nothing here talks to the network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from .allocation_core import (
    WAITING_STATES,
    AllocationError,
    AllocationOutcome,
    add_allocated,
    allocate_free,
    annotate_available_to_promise,
    available_to_promise,
    lock_products,
    trail_entry,
    write_grants,
)
from .allocation_plan import hold_applies
from .bulk import InList, update_rows
from .models import Order, OrderLine, Product, StockAllocation, StorePolicy

__all__ = [
    "AllocationError",
    "AllocationOutcome",
    "annotate_available_to_promise",
    "apply_stock_count",
    "approve_allocation",
    "available_to_promise",
    "give_back",
    "lock_products",
    "receive_stock",
    "release_order",
    "reserve_lines",
    "reserve_new_lines",
    "trail_entry",
]


# --------------------------------------------------------------------------- the verbs


@transaction.atomic
def reserve_new_lines(lines: Iterable[OrderLine]) -> list[OrderLine]:
    """Reserve available-to-promise stock for new lines; what cannot be had now is backordered.

    Lines are re-read under lock, so a line that a receipt already served is left alone. Under a
    ``hold`` order a product's lines get all they need or nothing. The passed objects are updated.
    """
    given = {line.pk: line for line in lines if line.pk is not None}
    written = reserve_lines(given, {line.product_id for line in given.values()})
    for pk, values in written.items():
        for name, value in values.items():
            setattr(given[pk], name, value)
    return [given[pk] for pk in written]


def reserve_lines(line_ids: Iterable[int], product_ids: Iterable[int]) -> dict[int, dict]:
    """``reserve_new_lines`` by id, for any number of lines: a fixed number of statements.

    ``product_ids`` are the products of those lines (locked first, in id order). Returns
    ``{line id: {"allocated", "state", "backordered_at", "allocated_at"}}`` for the lines it
    decided (those still pending on an open order), in the order they were served.
    """
    ids = list(line_ids)
    if not ids:
        return {}
    products = lock_products(product_ids)
    policy = StorePolicy.objects.current()
    fresh = list(
        OrderLine.objects.select_for_update(of=("self",), no_key=True)
        .filter(InList("pk", ids), state=OrderLine.State.PENDING, order__status=Order.Status.OPEN)
        .order_by("product_id", "order_id", "pk")
        .values(
            "pk",
            "order_id",
            "product_id",
            "quantity",
            "allocated",
            "backordered_at",
            "allocated_at",
            "order__number",
            "order__partial_shipment",
        )
    )
    if not fresh:
        return {}
    # Lines already waiting are entitled first. Other new lines (still pending) are peers: whoever
    # takes the product lock first is served first, so two sales never block each other out.
    demand = dict(
        OrderLine.objects.waiting()
        .filter(InList("product_id", products))
        .exclude(state=OrderLine.State.PENDING)
        .order_by()
        .values("product_id")
        .annotate(units=Sum(F("quantity") - F("allocated")))
        .values_list("product_id", "units")
    )
    atp = {pk: max(0, p.on_hand - p.allocated - (demand.get(pk) or 0)) for pk, p in products.items()}
    groups: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for line in fresh:
        groups[(line["product_id"], line["order_id"])].append(line)
    now = timezone.now()
    taken: dict[int, list[dict]] = defaultdict(list)
    written: dict[int, dict] = {}
    for (product_id, _order_id), members in groups.items():
        needs = [line["quantity"] - line["allocated"] for line in members]
        if hold_applies(members[0]["order__partial_shipment"], policy.partial_shipment_default):
            gives = needs if sum(needs) <= atp[product_id] else [0] * len(members)
        else:
            gives = []
            for need in needs:
                gives.append(min(need, atp[product_id] - sum(gives)))
        for line, give in zip(members, gives, strict=True):
            atp[product_id] -= give
            allocated = line["allocated"] + give
            values = {
                "allocated": allocated,
                "backordered_at": line["backordered_at"],
                "allocated_at": line["allocated_at"],
            }
            if allocated == line["quantity"]:
                values["state"], values["allocated_at"] = OrderLine.State.ALLOCATED, now
            else:
                values["state"] = OrderLine.State.PARTIAL if allocated else OrderLine.State.BACKORDERED
                values["backordered_at"] = line["backordered_at"] or now
            written[line["pk"]] = values
            if give:
                taken[product_id].append(trail_entry(line, line["order__number"], give))
    update_rows(
        OrderLine,
        ({"id": pk, **values} for pk, values in written.items()),
        ["allocated", "state", "backordered_at", "allocated_at"],
    )
    units = {product_id: sum(entry["units"] for entry in entries) for product_id, entries in taken.items()}
    add_allocated(units, now)
    trail = []
    for product_id, entries in taken.items():
        product = products[product_id]
        product.allocated += units[product_id]
        trail.append(
            StockAllocation(
                product=product,
                kind=StockAllocation.Kind.SALE,
                status=StockAllocation.Status.APPLIED,
                reference=", ".join(sorted({entry["number"] for entry in entries}))[:128],
                on_hand_before=product.on_hand,
                on_hand_after=product.on_hand,
                applied=entries,
                applied_units=units[product_id],
                planned_units=units[product_id],
                created_at=now,
                decided_at=now,
            )
        )
    StockAllocation.objects.bulk_create(trail)
    return written


@transaction.atomic
def receive_stock(
    product_id: int, quantity: int, *, reference: str = "", approve: bool = False, user=None
) -> AllocationOutcome:
    """Units arrived: they are on hand at once; their allocation is applied or proposed.

    ``approve=True`` applies a short-supply plan at once, as the owner would from the review page.
    """
    if quantity <= 0:
        raise AllocationError("A receipt adds at least one unit.")
    product = lock_products([product_id]).get(product_id)
    if product is None:
        raise AllocationError(f"No product with id {product_id}.")
    before = product.on_hand
    Product.objects.filter(pk=product.pk).update(on_hand=F("on_hand") + quantity, updated_at=timezone.now())
    product.on_hand += quantity
    return allocate_free(
        product,
        kind=StockAllocation.Kind.RECEIPT,
        reference=reference,
        on_hand_before=before,
        policy=StorePolicy.objects.current(),
        user=user,
        approve=approve,
    )


@transaction.atomic
def apply_stock_count(
    product_id: int, on_hand: int, *, reference: str = "", approve: bool = False, user=None
) -> AllocationOutcome:
    """Set ``on_hand`` to a counted level (a channel's inventory update, a CSV) and plan any free units.

    A count below what is already allocated keeps the allocation whole: ``on_hand`` stops at the
    allocated units and the trail says so. The same count twice changes nothing and writes nothing.
    """
    if on_hand < 0:
        raise AllocationError("A stock count cannot be negative.")
    product = lock_products([product_id]).get(product_id)
    if product is None:
        raise AllocationError(f"No product with id {product_id}.")
    before = product.on_hand
    level = max(on_hand, product.allocated)
    if level == before:
        return AllocationOutcome()
    note = (
        f"Counted {on_hand}, below the {product.allocated} units allocated: kept at {level}." if level > on_hand else ""
    )
    Product.objects.filter(pk=product.pk).update(on_hand=level, updated_at=timezone.now())
    product.on_hand = level
    return allocate_free(
        product,
        kind=StockAllocation.Kind.COUNT,
        reference=reference,
        on_hand_before=before,
        policy=StorePolicy.objects.current(),
        user=user,
        approve=approve,
        note=note,
    )


@transaction.atomic
def approve_allocation(allocation_id: int, *, user=None) -> AllocationOutcome:
    """Apply a proposal as far as it is still valid; re-plan whatever is left.

    Lines and stock are re-read under lock: a line that was cancelled, served meanwhile or grew is
    skipped with its reason, units never exceed what is free, and a proposal applies once only.
    """
    product_id = StockAllocation.objects.filter(pk=allocation_id).values_list("product_id", flat=True).first()
    if product_id is None:
        raise AllocationError(f"No allocation with id {allocation_id}.")
    product = lock_products([product_id])[product_id]
    record = StockAllocation.objects.select_for_update().get(pk=allocation_id)
    if record.status != StockAllocation.Status.PROPOSED:
        raise AllocationError(f"This allocation is {record.get_status_display().lower()}; it cannot be applied.")
    planned = [entry for entry in record.plan.get("entries", []) if entry["give"] > 0]
    rows = {
        row["pk"]: row
        for row in OrderLine.objects.filter(pk__in=[entry["line"] for entry in planned])
        .select_for_update(of=("self",), no_key=True)
        .order_by("pk")
        .values("pk", "order_id", "quantity", "allocated", "allocated_at", "state", "order__status")
    }
    left = product.on_hand - product.allocated
    grants, skipped = [], []
    groups: dict[tuple, list[dict]] = {}
    for entry in planned:  # hold orders' entries apply together or not at all
        groups.setdefault((entry["order"], "hold") if entry["hold"] else (entry["line"], "line"), []).append(entry)
    for members in groups.values():
        checked = []
        for entry in members:
            row = rows.get(entry["line"])
            still_waiting = (
                row is not None and row["order__status"] == Order.Status.OPEN and row["state"] in WAITING_STATES
            )
            need = row["quantity"] - row["allocated"] if still_waiting else 0
            checked.append((entry, row, need))
        if members[0]["hold"]:
            complete = all(need == entry["give"] for entry, _, need in checked)
            units = sum(entry["give"] for entry in members)
            if not complete or units > left:
                skipped.extend(f"{entry['number']}: changed since the proposal" for entry in members)
                continue
            grants.extend((row, entry["give"]) for entry, row, _ in checked)
            left -= units
            continue
        entry, row, need = checked[0]
        give = min(entry["give"], need, left)
        if give < entry["give"]:
            skipped.append(f"{entry['number']}: {give} of {entry['give']} still valid")
        if give:
            grants.append((row, give))
            left -= give
    now = timezone.now()
    lines = write_grants(product, grants, now)
    numbers = {entry["line"]: entry["number"] for entry in planned}
    applied = [trail_entry(row, numbers[row["pk"]], units) for row, units in grants]
    note = ("Skipped: " + "; ".join(skipped)) if skipped else "Applied as proposed."
    StockAllocation.objects.filter(pk=record.pk, status=StockAllocation.Status.PROPOSED).update(
        status=StockAllocation.Status.APPLIED,
        applied=applied,
        applied_units=sum(units for _, units in grants),
        decided_at=now,
        decided_by=user,
        note=note[:500],
    )
    record.refresh_from_db()
    outcome = AllocationOutcome(record, lines)
    if left > 0 and OrderLine.objects.waiting().filter(product=product).exists():
        allocate_free(
            product,
            kind=StockAllocation.Kind.REPLAN,
            reference=f"after allocation {record.pk}",
            on_hand_before=product.on_hand,
            policy=StorePolicy.objects.current(),
            record_empty=False,
        )
    return outcome


@transaction.atomic
def release_order(order_id: int) -> list[StockAllocation]:
    """Cancel an order's unshipped lines and give their units back; freed units are planned again.

    Idempotent: an order already cancelled and released writes nothing more. Returns the trail rows.
    """
    product_ids = OrderLine.objects.filter(order_id=order_id).values_list("product_id", flat=True)
    lock_products(product_ids)
    order = Order.objects.select_for_update(no_key=True).filter(pk=order_id).first()
    if order is None:
        raise AllocationError(f"No order with id {order_id}.")
    if order.status in (Order.Status.FULFILLED, Order.Status.CLOSED):
        raise AllocationError(f"Order {order.number} is {order.get_status_display().lower()}; it cannot be cancelled.")
    now = timezone.now()
    lines = list(
        OrderLine.objects.select_for_update(no_key=True)
        .filter(order_id=order_id)
        .exclude(state__in=[OrderLine.State.CANCELLED, OrderLine.State.SHIPPED])
        .order_by("pk")
    )
    released: dict[int, list[dict]] = defaultdict(list)
    for line in lines:
        held = line.allocated - line.shipped
        if held:
            released[line.product_id].append(trail_entry(line, order.number, -held))
        line.allocated, line.state, line.cancelled_at = line.shipped, OrderLine.State.CANCELLED, now
    update_rows(
        OrderLine,
        (
            {"id": line.pk, "allocated": line.allocated, "state": line.state, "cancelled_at": line.cancelled_at}
            for line in lines
        ),
        ["allocated", "state", "cancelled_at"],
    )
    if order.status == Order.Status.OPEN:
        Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED, cancelled_at=now, updated_at=now)
    note = f"Order {order.number} cancelled: {{units}} unit(s) back to free stock."
    return give_back(released, reference=order.number, note=note, replan_reference=f"cancellation of {order.number}")


def give_back(
    released: dict[int, list[dict]], *, reference: str, note: str, replan_reference: str = "", replan: bool = True
) -> list[StockAllocation]:
    """Units lines stopped holding (a cancellation, an edit, a line removed), on the trail, then planned again.

    ``released`` is ``{product id: trail entries}`` with negative units, for lines already written;
    the caller holds the products' locks (taken first, as everywhere). Per product: ``allocated``
    drops, a ``release`` row records who gave back what (``note`` may use ``{units}``), and the
    freed units go to the waiting lines by the same rules as a receipt (``replan=False`` when the
    units left the shelf, as a shipment's do). Returns the trail rows.
    """
    released = {pk: entries for pk, entries in released.items() if entries}
    if not released:
        return []
    products = lock_products(released)
    policy = StorePolicy.objects.current()
    now = timezone.now()
    records = []
    for product_id in sorted(released):
        product = products[product_id]
        units = -sum(entry["units"] for entry in released[product_id])
        Product.objects.filter(pk=product_id).update(allocated=F("allocated") - units, updated_at=now)
        product.allocated -= units
        records.append(
            StockAllocation.objects.create(
                product=product,
                kind=StockAllocation.Kind.RELEASE,
                status=StockAllocation.Status.APPLIED,
                reference=reference[:128],
                on_hand_before=product.on_hand,
                on_hand_after=product.on_hand,
                applied=released[product_id],
                applied_units=-units,
                created_at=now,
                decided_at=now,
                note=note.format(units=units)[:500],
            )
        )
        if not replan:
            continue
        outcome = allocate_free(
            product,
            kind=StockAllocation.Kind.REPLAN,
            reference=replan_reference or f"after {reference}",
            on_hand_before=product.on_hand,
            policy=policy,
            record_empty=False,
        )
        if outcome.record is not None:
            records.append(outcome.record)
    return records
