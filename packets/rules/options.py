"""The moves an owner can choose from, each with its cost, margin effect and catch."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backorders.formats.money import format_money

from . import facts as f
from .facts import PolicyFacts, SourceFacts
from .supply import Range

CENT = Decimal("0.01")

LABELS = {
    f.WAIT: "Wait for the restock",
    f.SWITCH_SUPPLIER: "Switch to the backup supplier",
    f.OFFER_REPLACEMENT: "Offer a replacement",
    f.CANCEL: "Cancel the waiting items",
    f.REFUND: "Refund",
    f.CHASE_SUPPLIER: "Chase the supplier",
    f.PAUSE_PRODUCT: "Pause sales of the product",
    f.REQUEST_PROOF: "Request proof",
    f.MESSAGE_CUSTOMER: "Message the customer",
    f.ESCALATE: "Escalate to the owner",
}


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(CENT))


@dataclass(frozen=True)
class Replacement:
    """Another product (usually a sibling variant) that is in stock now."""

    sku: str
    title: str
    price: Decimal
    cost: Decimal
    available: int


@dataclass(frozen=True)
class OptionInputs:
    kind: str
    units: int = 0  # units short (order case) or waiting (product case)
    unit_price: Decimal = Decimal("0")
    unit_cost: Decimal = Decimal("0")
    short_value: Decimal = Decimal("0")  # what the waiting units were sold for
    order_total: Decimal | None = None
    primary: SourceFacts | None = None
    backups: tuple[SourceFacts, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    eta: Range | None = None
    dropship: bool = False
    customer_needs_owner: bool = False  # VIP or high value: even messages go past the owner


def _option(
    action: str,
    policy: PolicyFacts,
    *,
    label: str | None = None,
    cost: Decimal | None = None,
    margin: Decimal | None = None,
    days: int | None = None,
    quality: str = "none",
    consent: bool = False,
    needs_owner: bool = False,
    notes: str = "",
) -> dict:
    over_boundary = cost is not None and cost > policy.money_boundary
    return {
        "action": action,
        "label": label or LABELS[action],
        "cost": money(cost),
        "margin_impact": money(margin),
        "shipping_days_difference": days,
        "quality_risk": quality,
        "needs_customer_consent": consent,
        "needs_owner": needs_owner or action in f.OWNER_ONLY_ACTIONS or over_boundary,
        "notes": notes,
    }


def _wait_notes(inputs: OptionInputs) -> str:
    eta = inputs.eta
    if eta is not None and not eta.rolling:
        how_sure = getattr(eta, "sureness", "") or f"covers about {eta.coverage:.0%} of past arrivals"
        return f"Honest range: {eta.start:%b %-d} to {eta.end:%b %-d}: {how_sure} ({eta.basis})."
    if inputs.primary is not None:
        return (
            f"No confirmed date: {inputs.primary.supplier_name} quotes {inputs.primary.lead_time_days} business days "
            f"plus {inputs.primary.transit_days} in transit once stock is ordered."
        )
    return "No supplier is on file for this product: there is no basis for a date."


def _switches(inputs: OptionInputs, policy: PolicyFacts) -> list[dict]:
    options = []
    for backup in inputs.backups:
        margin = None
        days = None
        if inputs.primary is not None:
            margin = (inputs.primary.unit_cost - backup.unit_cost) * inputs.units
            days = (backup.lead_time_days + backup.transit_days) - (
                inputs.primary.lead_time_days + inputs.primary.transit_days
            )
        options.append(
            _option(
                f.SWITCH_SUPPLIER,
                policy,
                label=f"Switch to {backup.supplier_name}",
                cost=backup.unit_cost * max(inputs.units, 1),
                margin=margin,
                days=days,
                quality=backup.quality_notes or "none noted",
                consent=backup.needs_consent,
                notes=f"{backup.unit_cost} a unit, {backup.lead_time_days} business days lead time plus "
                f"{backup.transit_days} in transit.",
            )
        )
    return options


def build_options(inputs: OptionInputs, policy: PolicyFacts) -> list[dict]:
    options: list[dict] = []
    add = options.append
    if inputs.kind == f.BACKORDER:
        add(_option(f.WAIT, policy, notes=_wait_notes(inputs)))
        add(
            _option(f.MESSAGE_CUSTOMER, policy, needs_owner=inputs.customer_needs_owner, notes="Send an honest update.")
        )
        wait_days = (inputs.primary.lead_time_days + inputs.primary.transit_days) if inputs.primary else None
        for item in inputs.replacements:
            extra = (item.price - inputs.unit_price) * inputs.units
            add(
                _option(
                    f.OFFER_REPLACEMENT,
                    policy,
                    label=f"Offer {item.sku} ({item.title}) instead",
                    cost=item.cost * inputs.units,
                    margin=(inputs.unit_cost - item.cost) * inputs.units,
                    days=-wait_days if wait_days is not None else None,
                    quality=f"A different item: {item.title}.",
                    consent=True,
                    needs_owner=extra > policy.replacement_boundary,
                    notes=f"{item.available} in stock; sells for {format_money(item.price)}.",
                )
            )
        options.extend(_switches(inputs, policy))
        lost = (inputs.unit_price - inputs.unit_cost) * inputs.units
        add(_option(f.CANCEL, policy, cost=inputs.short_value, margin=-lost, notes="Refunds the waiting items only."))
        add(_option(f.REFUND, policy, cost=inputs.short_value, margin=-lost, notes="Refund the waiting items."))
    elif inputs.kind == f.STOCKOUT:
        add(_option(f.PAUSE_PRODUCT, policy, notes="Stops new orders and lets the page say what is true."))
        add(_option(f.CHASE_SUPPLIER, policy, notes="Ask for a written stock status and a date range."))
        options.extend(_switches(inputs, policy))
        add(_option(f.WAIT, policy, notes=_wait_notes(inputs)))
    elif inputs.kind == f.STALE_TRACKING:
        if inputs.dropship:
            add(_option(f.CHASE_SUPPLIER, policy, notes="Ask the supplier for proof of handover to the carrier."))
        add(_option(f.REQUEST_PROOF, policy, notes="Carrier trace, pickup scan or proof of delivery."))
        add(_option(f.MESSAGE_CUSTOMER, policy, needs_owner=inputs.customer_needs_owner, notes="Say what we know."))
        total = inputs.order_total
        add(
            _option(
                f.REFUND,
                policy,
                cost=total,
                margin=-total if total is not None else None,
                notes="The goods are already gone: a refund loses the whole sale.",
            )
        )
    else:
        add(_option(f.CHASE_SUPPLIER, policy, notes="Ask for a written status on every waiting product."))
        options.extend(_switches(inputs, policy))
    return options
