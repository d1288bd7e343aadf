"""Supply rules: why a product cannot be had, how short the shelf is, and whether a supplier went quiet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from backorders.calendar import BusinessCalendar

from . import facts as f
from .facts import PolicyFacts, ProductSupply, SupplierFacts, UpdateFacts

# How bad each supply category is, for choosing one when an order waits on several products.
SEVERITY = {
    f.DISCONTINUED: 7,
    f.VARIANT_MISSING: 6,
    f.BACKUP_CANDIDATE: 5,
    f.SUPPLIER_OUT_OF_STOCK: 4,
    f.SUPPLIER_SILENCE: 3,
    f.RESTOCK_DELAY: 2,
    f.UNCLEAR: 1,
    f.LOW_STOCK: 0,
}

STOCK_LEVELS = ("watch", "urgent", "paused", "owner_only")


@dataclass
class SupplyVerdict:
    category: str
    strength: str  # confirmed | weak | conflicting | none
    reasons: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    latest: UpdateFacts | None = None
    silent: bool = False


def _day(moment: datetime | date, calendar: BusinessCalendar) -> str:
    day = calendar.local_date(moment) if isinstance(moment, datetime) else moment
    return day.strftime("%b %-d")


def silence_window(supplier: SupplierFacts, policy: PolicyFacts) -> int:
    return supplier.silence_business_days or policy.supplier_silence_business_days


def silent_days(supplier: SupplierFacts, *, now: datetime, calendar: BusinessCalendar) -> int | None:
    """Business days since the supplier last said anything; None when they never have."""
    if supplier.last_update_at is None:
        return None
    return calendar.business_days_between(supplier.last_update_at, now)


def is_silent(supplier: SupplierFacts, *, now: datetime, calendar: BusinessCalendar, policy: PolicyFacts) -> bool:
    days = silent_days(supplier, now=now, calendar=calendar)
    return days is None or days >= silence_window(supplier, policy)


def conflicts(updates: tuple[UpdateFacts, ...], calendar: BusinessCalendar) -> list[str]:
    """Contradictions, named: an update marked as conflicting with another, in plain words."""
    by_id = {u.id: u for u in updates}
    found = []
    for update in updates:
        if update.strength != f.CONFLICTING:
            continue
        other = by_id.get(update.conflicts_with_id)
        said = update.stock_status.replace("_", " ")
        if other is None:
            found.append(
                f"{update.supplier_name} said {said} on {_day(update.received_at, calendar)}, "
                "contradicting an earlier report."
            )
        else:
            found.append(
                f"{update.supplier_name} said {other.stock_status.replace('_', ' ')} on "
                f"{_day(other.received_at, calendar)} ({other.strength_reason or other.strength}), then {said} on "
                f"{_day(update.received_at, calendar)}."
            )
    return found


def classify_supply(
    supply: ProductSupply, *, now: datetime, calendar: BusinessCalendar, policy: PolicyFacts
) -> SupplyVerdict:
    """Why this product cannot be supplied right now, from the supplier evidence."""
    stock_updates = [
        u
        for u in supply.updates
        if u.kind != "silence" and not (u.kind == "stock_status" and u.stock_status == "unknown")
    ]
    latest = stock_updates[0] if stock_updates else None
    found_conflicts = conflicts(supply.updates, calendar)
    strength = f.CONFLICTING if found_conflicts else (latest.strength if latest else f.NONE)
    silent = supply.supplier is not None and is_silent(supply.supplier, now=now, calendar=calendar, policy=policy)
    verdict = SupplyVerdict(
        category=f.UNCLEAR, strength=strength, conflicts=found_conflicts, latest=latest, silent=silent
    )
    reasons = verdict.reasons
    status = latest.stock_status if latest else "unknown"
    who = latest.supplier_name if latest else (supply.supplier.name if supply.supplier else "The supplier")
    when = _day(latest.received_at, calendar) if latest else ""

    if supply.status == "discontinued" or status == "discontinued":
        verdict.category = f.DISCONTINUED
        reasons.append(
            f"{who} reported it discontinued on {when}."
            if status == "discontinued"
            else "The product is discontinued in the catalog."
        )
    elif status == "variant_missing":
        verdict.category = f.VARIANT_MISSING
        reasons.append(f"{who} reported this variant missing on {when}.")
    elif supply.backups and status != "in_stock":
        verdict.category = f.BACKUP_CANDIDATE
        names = ", ".join(b.supplier_name for b in supply.backups)
        reasons.append(f"The primary supplier cannot supply it now; a backup source exists: {names}.")
        if latest:
            reasons.append(f"{who} reported {status.replace('_', ' ')} on {when}.")
    elif status == "out_of_stock":
        if latest.restock_from or latest.restock_to:
            verdict.category = f.RESTOCK_DELAY
            reasons.append(f"{who} is out of stock and gave a restock estimate on {when}.")
        else:
            verdict.category = f.SUPPLIER_OUT_OF_STOCK
            reasons.append(f"{who} reported out of stock on {when} with no restock date.")
    elif latest and latest.kind in {"restock_estimate", "dispatch_claim", "pickup_proof"}:
        verdict.category = f.RESTOCK_DELAY
        reasons.append(f"{who} sent a {latest.kind.replace('_', ' ')} on {when}; the stock has not arrived.")
    elif supply.open_po_quoted_at:
        verdict.category = f.RESTOCK_DELAY
        reasons.append(
            f"Purchase order {supply.open_po_reference} is open, quoted for {_day(supply.open_po_quoted_at, calendar)}."
        )
    elif silent:
        verdict.category = f.SUPPLIER_SILENCE
        last = supply.supplier.last_update_at
        reasons.append(
            f"{supply.supplier.name} has said nothing since {_day(last, calendar)}."
            if last
            else f"{supply.supplier.name} has never sent an update."
        )
    else:
        reasons.append("No supplier evidence explains the shortage.")
    return verdict


def stock_level(*, available: int, waiting_units: int, recent_units: int, policy: PolicyFacts) -> str | None:
    """The policy threshold a product has crossed, when it has demand (waiting or recent sales)."""
    if waiting_units <= 0 and recent_units <= 0:
        return None
    if waiting_units >= policy.owner_only_waiting_units:
        return "owner_only"
    if available <= policy.stock_paused_at:
        return "paused"
    if available <= policy.stock_urgent_at:
        return "urgent"
    if available <= policy.stock_watch_at:
        return "watch"
    return None


@dataclass(frozen=True)
class Range:
    """What the rules need of an ETA range (``suppliers.eta.EtaRange`` has this shape)."""

    start: date
    end: date
    coverage: float
    basis: str
    rolling: bool  # True when it counts from today (no quote): it moves every day
    sureness: str = ""  # how sure, in words: what it covered lately, how late the supplier has been
