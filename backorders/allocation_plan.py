"""Who gets restocked units: a pure function of the waiting lines, the free units and the policy.

The plan never touches the database. ``backorders.allocation`` reads the waiting lines of one
product in one query, asks for a plan, and writes it (or keeps it as a proposal for the owner).

Order of service:

1. Priority class, in the order the policy lists them (``StorePolicy.priority_classes``). An order
   belongs to the first class it qualifies for: ``vip`` (the customer's earlier orders reach
   ``vip_min_orders``), ``contract`` (``Order.priority_class == "contract"``), ``express``
   (``Order.express``), ``standard`` (everyone). Any other name in the list matches orders whose
   ``priority_class`` is that name. Orders that match no listed class come after all of them.
2. Within a class, first come first served: the order's ``placed_at``, then its id, then the line's.

Partial shipments: an order that ships what is available takes whatever is left, down to part of
a line. An order under ``hold`` takes all it still needs of the product or nothing: when the units
left cannot complete its lines of this product it keeps its place for the next receipt and the
units go on down the line to orders that can use them now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .models import Order

STANDARD = "standard"
CLASS_LABELS = {"vip": "VIP", "contract": "Contract", "express": "Express", STANDARD: "Standard"}
# The plan lists every line that gets units, and this many of those that keep waiting.
WAITING_LISTED = 100


def priority_of(
    classes: list[str], *, orders_count: int, vip_min_orders: int, priority_class: str, express: bool
) -> tuple[str, int]:
    """The first class of ``classes`` the order qualifies for, and its rank (0 is served first)."""
    for rank, name in enumerate(classes):
        if (
            (name == "vip" and orders_count >= vip_min_orders)
            or (name == "express" and express)
            or name == STANDARD
            or (name not in ("vip", "express") and priority_class and priority_class == name)
        ):
            return name, rank
    return STANDARD, len(classes)


def class_label(name: str) -> str:
    return CLASS_LABELS.get(name, name.replace("_", " ").capitalize())


@dataclass(frozen=True)
class WaitingLine:
    line_id: int
    order_id: int
    order_number: str
    placed_at: datetime
    quantity: int
    allocated: int
    priority: str
    rank: int
    hold: bool

    @property
    def need(self) -> int:
        return self.quantity - self.allocated

    @property
    def sort_key(self) -> tuple:
        return (self.rank, self.placed_at, self.order_id, self.line_id)


@dataclass
class Plan:
    free: int
    demand: int
    grants: dict[int, int] = field(default_factory=dict)  # line id -> units
    entries: list[dict] = field(default_factory=list)
    waiting_not_listed: int = 0

    @property
    def planned(self) -> int:
        return sum(self.grants.values())

    @property
    def covers_everyone(self) -> bool:
        return self.planned == self.demand

    def as_json(self, classes: list[str], policy_version: int) -> dict:
        return {
            "policy_version": policy_version,
            "classes": list(classes),
            "entries": self.entries,
            "waiting_not_listed": self.waiting_not_listed,
        }


def _entry(line: WaitingLine, position: int, give: int, outcome: str) -> dict:
    return {
        "line": line.line_id,
        "order": line.order_id,
        "number": line.order_number,
        "placed_at": line.placed_at.isoformat(),
        "class": line.priority,
        "position": position,
        "need": line.need,
        "give": give,
        "hold": line.hold,
        "outcome": outcome,
        "reason": f"{class_label(line.priority)}, placed {line.placed_at:%Y-%m-%d %H:%M} UTC",
    }


def plan_allocation(lines: list[WaitingLine], free: int) -> Plan:
    """Share ``free`` units among ``lines`` (one product's waiting lines) in order of service."""
    ordered = sorted((line for line in lines if line.need > 0), key=lambda line: line.sort_key)
    plan = Plan(free=max(free, 0), demand=sum(line.need for line in ordered))
    by_order: dict[int, list[WaitingLine]] = {}
    for line in ordered:
        by_order.setdefault(line.order_id, []).append(line)
    left = plan.free
    decided: set[int] = set()
    listed_waiting = 0
    for position, line in enumerate(ordered, start=1):
        if line.line_id in decided:
            continue
        group = by_order[line.order_id] if line.hold else [line]
        if line.hold:
            needed = sum(member.need for member in group)
            gives = [member.need for member in group] if needed <= left else [0] * len(group)
            why = "" if needed <= left else f"waits: held for the whole order (needs {needed}, {left} left)"
        else:
            gives = [min(line.need, left)]
            why = ""
        for member, give in zip(group, gives, strict=True):
            decided.add(member.line_id)
            left -= give
            if give:
                plan.grants[member.line_id] = give
                outcome = f"gets {give} of {member.need}" + ("" if give == member.need else " (ships what is here)")
            else:
                outcome = why or "waits: no units left"
            if give or listed_waiting < WAITING_LISTED:
                plan.entries.append(_entry(member, position, give, outcome))
                listed_waiting += 0 if give else 1
            else:
                plan.waiting_not_listed += 1
    return plan


def hold_applies(order_partial_shipment: str, policy_default: str) -> bool:
    return (order_partial_shipment or policy_default) == Order.PartialShipment.HOLD
