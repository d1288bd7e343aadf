"""How far the evidence can be trusted, said in plain words: weak is called weak, a conflict is named."""

from __future__ import annotations

from backorders.formats.text import sentence

from . import facts as f
from .supply import Range, SupplyVerdict
from .tracking import TrackingVerdict


def supply_evidence(verdict: SupplyVerdict | None, eta: Range | None) -> tuple[str, list[str]]:
    if verdict is None:
        return f.NONE, ["No supplier evidence is on file."]
    notes: list[str] = []
    latest = verdict.latest
    notes.extend(f"Conflict: {text}" for text in verdict.conflicts)
    if latest is None:
        notes.append("The supplier has sent nothing about this product.")
    elif latest.strength == f.WEAK:
        notes.append(
            sentence(f"The supplier's latest word is weak: {latest.strength_reason or 'not confirmed in writing'}")
        )
    if latest and latest.kind == "dispatch_claim" and not latest.tracking_number:
        notes.append("The supplier claims dispatch but gave no tracking number.")
    if latest and (latest.restock_from or latest.restock_to):
        window = f"{_d(latest.restock_from)} to {_d(latest.restock_to)}"
        if latest.strength == f.CONFIRMED:
            notes.append(f"The restock estimate ({window}) is confirmed in writing.")
        else:
            notes.append(f"The restock estimate ({window}) is {latest.strength}: treat it as a guess.")
    elif eta is not None and not eta.rolling:
        notes.append(f"The only date is the purchase-order quote ({eta.basis}); the supplier has not confirmed it.")
    else:
        notes.append("No restock date is known.")
    if verdict.silent:
        notes.append("The supplier has gone quiet past the policy's window.")
    return verdict.strength, notes


def tracking_evidence(verdict: TrackingVerdict) -> tuple[str, list[str]]:
    notes = list(verdict.gaps)
    if verdict.category in {f.DELIVERED_CONFLICT, f.WRONG_TRACKING}:
        notes.append("The carrier's record and the customer's account disagree; neither is proven yet.")
        return f.CONFLICTING, notes
    if verdict.category == f.EXPIRED_TRACKING:
        return f.NONE, notes
    if verdict.category == f.UNCLEAR:
        return f.WEAK, notes
    if verdict.first_scan_at is None:
        notes.append("Only a label exists: a label is not proof of shipment.")
        return f.WEAK, notes
    if not notes:
        notes.append("The carrier's scans are the only evidence; nothing on file contradicts them.")
    return f.CONFIRMED, notes


def _d(day) -> str:
    return day.strftime("%b %-d") if day else "?"
