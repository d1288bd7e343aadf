"""Tracking facts from any source: events recorded once, the shipment's summary derived from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from ..models import Shipment, TrackingEvent, TrackingStatus

# Statuses that mean the carrier has the parcel in hand: they count as scans.
SCAN_STATUSES = {
    TrackingStatus.ACCEPTED,
    TrackingStatus.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY,
    TrackingStatus.ATTEMPTED,
    TrackingStatus.AVAILABLE_FOR_PICKUP,
    TrackingStatus.EXCEPTION,
    TrackingStatus.DELIVERED,
    TrackingStatus.RETURNED,
}


@dataclass(frozen=True)
class EventFacts:
    status: str
    raw_status: str
    occurred_at: datetime
    raw_substatus: str = ""
    message: str = ""
    location: str = ""
    country: str = ""


def location_text(*parts) -> str:
    """One stable text for a place, so the same scan sent twice is recognised as the same."""
    return ", ".join(str(p).strip() for p in parts if p not in (None, "") and str(p).strip())[:255]


@transaction.atomic
def record_events(shipment: Shipment, events: list[EventFacts], *, source: str) -> int:
    """Add the events the shipment does not have yet (the unique scan constraint decides) and
    refresh its status and scan times. Returns how many events were new."""
    shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
    before = shipment.events.count()
    TrackingEvent.objects.bulk_create(
        [
            TrackingEvent(
                shipment=shipment,
                status=e.status,
                raw_status=e.raw_status[:64],
                raw_substatus=e.raw_substatus[:128],
                message=e.message[:500],
                location=e.location[:255],
                country=e.country[:2].upper(),
                occurred_at=e.occurred_at,
                source=source[:32],
            )
            for e in events
        ],
        ignore_conflicts=True,
    )
    refresh_shipment(shipment)
    return shipment.events.count() - before


def refresh_shipment(shipment: Shipment) -> Shipment:
    """Derive status, raw status, first/last scan and delivery time from the shipment's events.

    The status is the latest event that says something (an ``unknown`` event never overwrites a
    known status); first and last scan count only events with the parcel in the carrier's hands.
    Caller holds the shipment's row lock.
    """
    events = list(shipment.events.order_by("occurred_at", "pk"))
    known = [e for e in events if e.status != TrackingStatus.UNKNOWN]
    latest = known[-1] if known else (events[-1] if events else None)
    if latest is not None:
        shipment.status = latest.status
        shipment.raw_status = latest.raw_status
    scans = [e.occurred_at for e in events if e.status in SCAN_STATUSES]
    shipment.first_scan_at = min(scans) if scans else None
    shipment.last_scan_at = max(scans) if scans else None
    delivered = [e.occurred_at for e in events if e.status == TrackingStatus.DELIVERED]
    shipment.delivered_at = max(delivered) if delivered else None
    shipment.save(update_fields=["status", "raw_status", "first_scan_at", "last_scan_at", "delivered_at", "updated_at"])
    return shipment


def shipments_for(tracking_number: str):
    """Shipments with this tracking number (carriers may format it with spaces or in lower case)."""
    cleaned = tracking_number.replace(" ", "").strip()
    return Shipment.objects.filter(tracking_number__in={cleaned, cleaned.upper(), cleaned.lower()}).order_by("pk")
