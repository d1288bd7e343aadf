"""Stale-tracking clocks: which kind of trouble a shipment is in, if any.

The clocks count business days in the store's calendar (weekends and the policy's holidays do
not count), except the expiry clock, which counts calendar days as tracking providers do.
A clock fires when it reaches its limit: with a 4-day pickup limit, day 3 is still normal watch
and day 4 is a case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from backorders.calendar import BusinessCalendar
from backorders.formats.text import sentence

from . import facts as f
from .facts import PolicyFacts, ShipmentFacts

MOVING = frozenset({"in_transit", "out_for_delivery", "attempted", "available_for_pickup"})
TROUBLE = frozenset({"exception", "returned"})


@dataclass
class TrackingVerdict:
    category: str | None  # None: inside every window, normal watch, no case
    reasons: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    business_days_since_last_scan: int | None = None
    tracking_age_days: int = 0
    first_scan_at: datetime | None = None
    last_scan_at: datetime | None = None


def _day(moment: datetime | None, calendar: BusinessCalendar) -> str:
    return calendar.local_date(moment).strftime("%b %-d") if moment else "never"


def _norm_postal(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def postal_codes_differ(a: str, b: str) -> bool:
    """ZIP+4 and spacing do not count as a difference; an empty code is not evidence."""
    a, b = _norm_postal(a), _norm_postal(b)
    if not a or not b:
        return False
    return not (a.startswith(b) or b.startswith(a))


def _city(location: str) -> str:
    return location.split(",")[0].strip().casefold()


def classify_tracking(
    shipment: ShipmentFacts, *, now: datetime, calendar: BusinessCalendar, policy: PolicyFacts
) -> TrackingVerdict:
    scans = [e for e in shipment.events if e.status != "label_created"]
    first_scan = scans[0].occurred_at if scans else shipment.first_scan_at
    last_scan = scans[-1].occurred_at if scans else shipment.last_scan_at
    latest = shipment.events[-1] if shipment.events else None
    status = shipment.status or (latest.status if latest else "unknown")
    verdict = TrackingVerdict(
        category=None,
        tracking_age_days=max(0, (now - shipment.label_created_at).days),
        first_scan_at=first_scan,
        last_scan_at=last_scan,
    )
    if last_scan:
        verdict.business_days_since_last_scan = calendar.business_days_between(last_scan, now)
    limit = (
        policy.no_scan_international_business_days if shipment.international else policy.no_scan_domestic_business_days
    )
    reasons, gaps = verdict.reasons, verdict.gaps
    dropship = shipment.shipped_by == "supplier"
    who = f"{shipment.supplier_name or 'The supplier'}" if dropship else "The carrier"

    # 1. Where it went: a destination or delivery place that is not the order's.
    mismatch = []
    if postal_codes_differ(shipment.destination_postal_code, shipment.order_postal_code):
        mismatch.append(
            f"The carrier's destination postal code {shipment.destination_postal_code} is not the order's "
            f"{shipment.order_postal_code}."
        )
    delivered_scan = next((e for e in reversed(shipment.events) if e.status == "delivered"), None)
    if (
        delivered_scan
        and delivered_scan.location
        and shipment.order_city
        and _city(delivered_scan.location) != _city(shipment.order_city)
    ):
        mismatch.append(f"Delivered in {delivered_scan.location}, but the order ships to {shipment.order_city}.")
    if mismatch:
        verdict.category = f.WRONG_TRACKING
        reasons.extend(mismatch)
        if shipment.not_received_claimed_at:
            reasons.append("The customer says the parcel never arrived.")
        return verdict

    # 2. Delivered: done, unless the customer says otherwise.
    if status == "delivered":
        if shipment.not_received_claimed_at:
            verdict.category = f.DELIVERED_CONFLICT
            reasons.append(
                f"The carrier reports delivery on {_day(shipment.delivered_at or last_scan, calendar)}; the customer "
                f"wrote on {_day(shipment.not_received_claimed_at, calendar)} that it never arrived."
            )
            gaps.append("No proof of delivery (photo, signature or GPS) is on file.")
        return verdict

    # 3. The carrier says something is wrong.
    if status in TROUBLE:
        verdict.category = f.CARRIER_EXCEPTION
        text = latest.message or latest.raw_status if latest else shipment.raw_status
        reasons.append(sentence(f"The carrier reports {status.replace('_', ' ')}: {text or 'no detail given'}"))
        return verdict

    # 4. No tracking data at all for too long.
    if not scans and not first_scan:
        calendar_days = (now - shipment.label_created_at).days
        if status == "expired" or calendar_days >= policy.expired_after_days:
            verdict.category = f.EXPIRED_TRACKING
            reasons.append(
                f"No tracking information since the label was created on "
                f"{_day(shipment.label_created_at, calendar)} ({policy.expired_after_days}-day limit)."
            )
            gaps.append("The carrier has no record of the parcel at all.")
            return verdict

    # 5. A status nobody understands.
    if status == "unknown":
        verdict.category = f.UNCLEAR
        raw = (latest.raw_status if latest else "") or shipment.raw_status or "no status"
        reasons.append(sentence(f'The carrier\'s latest status is not one we understand: "{raw}"'))
        gaps.append("The parcel's real state is unknown.")
        return verdict

    # 6. Label created, never picked up.
    if not scans and not first_scan:
        waited = calendar.business_days_between(shipment.label_created_at, now)
        if waited >= policy.no_pickup_business_days:
            verdict.category = f.SUPPLIER_SILENCE if dropship else f.LABEL_CREATED_ONLY
            reasons.append(
                f"Label created on {_day(shipment.label_created_at, calendar)}; no carrier pickup since "
                f"(limit {policy.no_pickup_business_days} business days)."
            )
            gaps.append(f"{who} has shown no proof the parcel was handed to the carrier.")
        return verdict

    # 7. Picked up or moving, then silent.
    waited = verdict.business_days_since_last_scan or 0
    if waited < limit:
        return verdict
    where = f" ({'domestic' if not shipment.international else 'international'} limit {limit} business days)"
    last_place = scans[-1].location if scans else ""
    if status == "accepted":
        verdict.category = f.SUPPLIER_SILENCE if dropship else f.ACCEPTED_NO_MOVEMENT
        reasons.append(
            f"Accepted by the carrier on {_day(last_scan, calendar)}"
            f"{' in ' + last_place if last_place else ''}; no movement since{where}."
        )
    elif status in MOVING:
        verdict.category = f.STALE_IN_TRANSIT
        reasons.append(
            f"Last scan on {_day(last_scan, calendar)}{' in ' + last_place if last_place else ''}; no scan "
            f"since{where}."
        )
    else:
        verdict.category = f.UNCLEAR
        reasons.append(f"Status {status!r} with no scan since {_day(last_scan, calendar)}.")
    gaps.append(f"No carrier scan since {_day(last_scan, calendar)}.")
    return verdict
