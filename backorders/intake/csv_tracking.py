"""Tracking scans from a CSV: order, carrier, tracking number, status, time.

The order is found by its number (``#1042`` or ``1042``). A shipment is added for a tracking
number the order does not have yet. The status may be one of Backorder Desk's statuses or a
carrier's word (AfterShip, EasyPost, Shippo, Shopify); anything else is kept as raw status and
counts as ``unknown``. Times without a zone are in the store's time zone.
"""

from __future__ import annotations

from django.db import DataError, transaction
from django.db.models import Q

from ..models import Order, Shipment, TrackingStatus
from . import carriers, shopify
from .csv_import import ImportFileError, Progress, Report, Rows, column, database_refusal, parse_time, register
from .tracking import EventFacts, record_events

TRACKING_MAX = Shipment._meta.get_field("tracking_number").max_length

COLUMNS = {
    "order": ("order", "order number", "order_number", "name"),
    "carrier": ("carrier", "tracking company", "tracking_company"),
    "tracking": ("tracking number", "tracking_number", "tracking"),
    "status": ("status",),
    "time": ("time", "occurred_at", "date", "datetime", "timestamp"),
}


def normalize_status(raw: str) -> str:
    key = raw.strip().lower().replace(" ", "_").replace("-", "_")
    if key in TrackingStatus.values:
        return key
    for value, label in TrackingStatus.choices:
        if raw.strip().lower() == label.lower():
            return value
    squashed = key.replace("_", "")
    for status in (
        shopify.SHIPMENT_STATUS.get(key),
        carriers.EASYPOST_STATUS.get(key),
        carriers.SHIPPO_STATUS.get(key),
        carriers.AFTERSHIP_TAGS.get(squashed),
    ):
        if status and status != TrackingStatus.UNKNOWN:
            return status
    return TrackingStatus.UNKNOWN


def import_tracking(rows: Rows, report: Report, progress: Progress) -> None:
    if not rows:
        return
    header = rows[0][1].keys()
    cols = {key: column(header, *names) for key, names in COLUMNS.items()}
    missing = [names[0] for key, names in COLUMNS.items() if cols[key] is None and key != "carrier"]
    if missing:
        raise ImportFileError(
            "missing columns: " + ", ".join(missing) + " (expected order,carrier,tracking number,status,time)"
        )
    for done, (number, row) in enumerate(rows, start=1):
        _import_row(number, {key: row.get(col, "") if col else "" for key, col in cols.items()}, cols, report)
        if done % 200 == 0:
            progress(done)
    progress(len(rows))


def _import_row(number: int, row: dict, cols: dict, report: Report) -> None:
    ref = row["order"].strip()
    if not ref:
        report.error(number, cols["order"], "empty: the row names no order")
        return
    bare = ref.lstrip("#")
    orders = list(Order.objects.filter(Q(number__in=[ref, bare, f"#{bare}"]) | Q(external_id=bare)).order_by("pk")[:2])
    if len(orders) != 1:
        reason = "no order has this number" if not orders else "more than one order has this number"
        report.error(number, cols["order"], f"{ref}: {reason}")
        return
    tracking = row["tracking"].replace(" ", "")
    if not tracking:
        report.error(number, cols["tracking"], "empty: the row names no tracking number")
        return
    if len(tracking) > TRACKING_MAX:
        report.error(number, cols["tracking"], f"longer than {TRACKING_MAX} characters: not a tracking number")
        return
    occurred_at = parse_time(row["time"])
    if occurred_at is None:
        report.error(number, cols["time"], f"{row['time']!r} is not a date and time" if row["time"] else "empty")
        return
    raw = row["status"].strip()
    status = normalize_status(raw) if raw else TrackingStatus.UNKNOWN
    try:
        created, new = _record(orders[0], tracking, row["carrier"], raw, status, occurred_at)
    except DataError as exc:  # a value the database refuses; the row's transaction wrote nothing
        report.error(number, cols["tracking"], f"the scan was not kept: {database_refusal(exc)}")
        return
    report.counts["created" if new else "skipped"] += 1
    if created:
        report.counts["shipments"] += 1
    if raw and status == TrackingStatus.UNKNOWN:
        report.flag(number, cols["status"], f"status {raw!r} is not one Backorder Desk knows: kept as unknown")


@transaction.atomic
def _record(order: Order, tracking: str, carrier: str, raw: str, status: str, occurred_at) -> tuple[bool, int]:
    """The scan on the order's shipment with this tracking number (added when new), in one transaction."""
    shipment, created = Shipment.objects.get_or_create(
        order=order,
        tracking_number=tracking,
        defaults={"carrier": carrier[:64], "label_created_at": occurred_at},
    )
    if carrier and not shipment.carrier:
        shipment.carrier = carrier[:64]
        shipment.save(update_fields=["carrier", "updated_at"])
    scan = EventFacts(status=status, raw_status=raw[:64], occurred_at=occurred_at)
    return created, record_events(shipment, [scan], source="csv")


register(
    "tracking",
    import_tracking,
    label="Tracking (order, carrier, tracking number, status, time)",
    help="One scan per row; a tracking number new to the order adds a shipment.",
)
