"""The parts every allocation verb shares: locks, the waiting-line read, writing a plan, and
available to promise. ``backorders.allocation`` holds the verbs and is the module to import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .allocation_plan import WaitingLine, hold_applies, plan_allocation, priority_of
from .bulk import InList, paused_gc, update_rows
from .hooks import after_allocation, stock_may_change
from .models import Order, OrderLine, Product, StockAllocation, StorePolicy

WAITING_STATES = (OrderLine.State.BACKORDERED, OrderLine.State.PENDING, OrderLine.State.PARTIAL)


class AllocationError(Exception):
    """An allocation request that cannot be carried out as asked (nothing is written)."""


@dataclass
class AllocationOutcome:
    """What one call did: the trail row it wrote (if any) and the lines that got units.

    Iterating it yields the lines that got units, as the earlier list result did.
    """

    record: StockAllocation | None = None
    lines: list[OrderLine] = field(default_factory=list)

    def __iter__(self) -> Iterator[OrderLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def proposal(self) -> StockAllocation | None:
        if self.record is not None and self.record.status == StockAllocation.Status.PROPOSED:
            return self.record
        return None


# --------------------------------------------------------------------------- available to promise


def _waiting_demand(product_ref) -> Subquery:
    lines = (
        OrderLine.objects.waiting()
        .filter(product_id=product_ref)
        .order_by()
        .values("product_id")
        .annotate(units=Sum(F("quantity") - F("allocated")))
        .values("units")
    )
    return Subquery(lines, output_field=IntegerField())


def annotate_available_to_promise(queryset: QuerySet[Product]) -> QuerySet[Product]:
    """Add ``waiting_demand`` and ``available_to_promise`` to every product, in the same query."""
    return queryset.annotate(
        waiting_demand=Coalesce(_waiting_demand(OuterRef("pk")), 0),
    ).annotate(available_to_promise=Greatest(F("on_hand") - F("allocated") - F("waiting_demand"), 0))


def available_to_promise(product_id: int) -> int:
    """Units any channel may sell now without taking what waiting lines are entitled to."""
    return (
        annotate_available_to_promise(Product.objects.filter(pk=product_id))
        .values_list("available_to_promise", flat=True)
        .get()
    )


# --------------------------------------------------------------------------- locking and writing


def lock_products(product_ids: Iterable[int]) -> dict[int, Product]:
    """Lock product rows in primary-key order: two transactions never wait on each other in a cycle.

    ``FOR NO KEY UPDATE``: stock changes never touch the key, so intake may keep inserting order
    lines that reference a product while its stock is being allocated.
    """
    ids = sorted(set(product_ids))
    stock_may_change(ids)
    return {p.pk: p for p in Product.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")}


def add_allocated(units: dict[int, int], now) -> None:
    """Raise each product's ``allocated`` by its units (negative gives back), in one statement.

    The CHECK constraint refuses allocated > on_hand whatever the caller's arithmetic believed.
    """
    units = {pk: n for pk, n in units.items() if n}
    if len(units) == 1 or (units and connection.vendor != "postgresql"):
        for pk, n in units.items():
            Product.objects.filter(pk=pk).update(allocated=F("allocated") + n, updated_at=now)
    elif units:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE backorders_product AS p SET allocated = p.allocated + v.units, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::integer[]) AS v(id, units) WHERE p.id = v.id",
                [now, list(units), list(units.values())],
            )


def write_grants(product: Product, grants: list[tuple[dict, int]], now) -> list[OrderLine]:
    """Give units to locked lines (``(row, units)``, row as read under the lock) in two statements."""
    changed = []
    for row, units in grants:
        allocated = row["allocated"] + units
        full = allocated == row["quantity"]
        changed.append(
            OrderLine(
                pk=row["pk"],
                order_id=row["order_id"],
                product_id=product.pk,
                quantity=row["quantity"],
                allocated=allocated,
                state=OrderLine.State.ALLOCATED if full else OrderLine.State.PARTIAL,
                allocated_at=now if full else row["allocated_at"],
            )
        )
    total = sum(units for _, units in grants)
    if not changed:
        return []
    update_rows(
        OrderLine,
        (
            {"id": line.pk, "allocated": line.allocated, "state": line.state, "allocated_at": line.allocated_at}
            for line in changed
        ),
        ["allocated", "state", "allocated_at"],
    )
    add_allocated({product.pk: total}, now)
    product.allocated += total
    after_allocation(product, changed)  # stock.allocated, our store holds released (settings.AFTER_ALLOCATION)
    return changed


def trail_entry(line: OrderLine | dict, number: str, units: int) -> dict:
    if isinstance(line, dict):
        return {"line": line["pk"], "order": line["order_id"], "number": number, "units": units}
    return {"line": line.pk, "order": line.order_id, "number": number, "units": units}


_ORDER_FIELDS = ("number", "placed_at", "express", "priority_class", "partial_shipment", "customer__orders_count")


def _waiting_rows(product: Product) -> list[dict]:
    """The product's waiting lines, locked, with what the plan needs to know about their orders.

    Two index-driven queries (the lines by product, then their orders by key, sent as one array)
    rather than one join: a join on the order's status can turn quadratic when table statistics
    are stale, as they are right after a large import.
    """
    lines = list(
        OrderLine.objects.filter(product_id=product.pk, state__in=WAITING_STATES, allocated__lt=F("quantity"))
        .select_for_update(no_key=True)
        .order_by("pk")
        .values("pk", "order_id", "quantity", "allocated", "allocated_at")
    )
    if not lines:
        return []
    orders = {
        row.pop("pk"): row
        for row in Order.objects.filter(InList("pk", {line["order_id"] for line in lines}), status=Order.Status.OPEN)
        .order_by()
        .values("pk", *_ORDER_FIELDS)
    }
    return [
        {**line, **{f"order__{name}": order[name] for name in _ORDER_FIELDS}}
        for line in lines
        if (order := orders.get(line["order_id"])) is not None
    ]


def _as_waiting(row: dict, policy: StorePolicy) -> WaitingLine:
    name, rank = priority_of(
        list(policy.priority_classes),
        orders_count=row["order__customer__orders_count"] or 0,
        vip_min_orders=policy.vip_min_orders,
        priority_class=row["order__priority_class"],
        express=row["order__express"],
    )
    return WaitingLine(
        line_id=row["pk"],
        order_id=row["order_id"],
        order_number=row["order__number"],
        placed_at=row["order__placed_at"],
        quantity=row["quantity"],
        allocated=row["allocated"],
        priority=name,
        rank=rank,
        hold=hold_applies(row["order__partial_shipment"], policy.partial_shipment_default),
    )


# --------------------------------------------------------------------------- planning free units


@paused_gc()  # a large receipt plans over every waiting line of the product at once
def allocate_free(
    product: Product,
    *,
    kind: str,
    reference: str,
    on_hand_before: int,
    policy: StorePolicy,
    user=None,
    approve: bool = False,
    note: str = "",
    record_empty: bool = True,
) -> AllocationOutcome:
    """Plan the product's free units over its waiting lines; apply or propose. Caller holds the lock.

    An open proposal for the product is superseded: the new plan covers all of its free units.
    With ``record_empty=False`` a plan that gives nothing and replaces nothing writes no row.
    """
    now = timezone.now()
    rows = _waiting_rows(product)
    free = product.on_hand - product.allocated
    plan = plan_allocation([_as_waiting(row, policy) for row in rows], free)
    open_proposal = StockAllocation.objects.filter(product=product, status=StockAllocation.Status.PROPOSED).first()
    if not plan.grants and open_proposal is None and not record_empty:
        return AllocationOutcome()
    if open_proposal is not None:
        StockAllocation.objects.filter(pk=open_proposal.pk, status=StockAllocation.Status.PROPOSED).update(
            status=StockAllocation.Status.SUPERSEDED, decided_at=now
        )
    record = StockAllocation(
        product=product,
        kind=kind,
        reference=reference[:128],
        on_hand_before=on_hand_before,
        on_hand_after=product.on_hand,
        free_units=free,
        demand_units=plan.demand,
        planned_units=plan.planned,
        plan=plan.as_json(policy.priority_classes, policy.version),
        note=note[:500],
        created_at=now,
        created_by=user,
        replaces=open_proposal,
    )
    lines: list[OrderLine] = []
    if not plan.grants:
        record.status = StockAllocation.Status.RECORDED
    elif approve or (plan.covers_everyone and policy.auto_apply_allocation):
        by_pk = {row["pk"]: row for row in rows}
        grants = [(by_pk[line_id], units) for line_id, units in plan.grants.items()]
        lines = write_grants(product, grants, now)
        record.status = StockAllocation.Status.APPLIED
        record.applied = [trail_entry(row, row["order__number"], units) for row, units in grants]
        record.applied_units = plan.planned
        record.decided_at = now
        record.decided_by = user if approve else None
        if not note:
            record.note = "Approved as received." if approve else "Supply covers every waiting line: applied."
    else:
        record.status = StockAllocation.Status.PROPOSED
    record.save()
    return AllocationOutcome(record, lines)
