"""The sweep's clock: when each case's facts next read differently by time alone.

With no new fact, a case still changes as time passes: a new store day (business days since a
supplier's last word, a promise coming due, the customer-facing ranges counted from today), 48
hours of silence towards the customer, another whole day since the order was placed or the label
was made, a delivered parcel leaving the 30-day view, a supplier update leaving the 120-day
one, a sale leaving the 14 days of recent sales, a cadence step of a waiting line falling
due, a reply deadline passing. After a run rebuilds a case (or a key that
could become a case: a parcel in transit, a supplier others wait on), ``write_clock`` writes one
row for it, due at the earliest of those moments; the run that claims it then rebuilds it.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime, time, timedelta

from django.db import connection

from backorders.bulk import InList
from packets.models import DirtyCaseKey
from packets.sweep.load import DELIVERED_LOOKBACK_DAYS, RECENT_SALES_DAYS, UPDATE_LOOKBACK_DAYS, Snapshot

SILENCE_HOURS = 48  # ``RiskContext.customer_due_update``
TICK = timedelta(microseconds=1)  # a lookback keeps what is exactly at its edge: it leaves just after


def _next_day_boundary(start: datetime | None, now: datetime) -> datetime | None:
    """The next instant at which ``(now - start).days`` grows."""
    if start is None or start > now:
        return start
    return start + timedelta(days=(now - start).days + 1)


def _later(now: datetime, *moments: datetime | None) -> list[datetime]:
    return [moment for moment in moments if moment is not None and moment > now]


def due_times(
    snap: Snapshot, desired_keys: set[str], keys: frozenset[str] | None, part: Container[str] | None = None
) -> dict[str, datetime]:
    """Each clock-driven key of the snapshot (those in ``keys``, or all; of a full run in
    processes, those of its ``part``) with its next due time."""
    now, calendar = snap.now, snap.calendar
    midnight = datetime.combine(calendar.local_date(now) + timedelta(days=1), time(0), tzinfo=calendar.tz)
    due: dict[str, datetime] = {}
    cadence = sorted({step.get("after_hours", 0) for step in (snap.policy.cadence or [])})

    def wanted(key: str) -> bool:
        return (keys is None or key in keys) and (part is None or key in part)

    def aged_out(updates) -> datetime | None:
        """When the oldest supplier update in view leaves the lookback (they come newest first)."""
        return updates[-1].received_at + timedelta(days=UPDATE_LOOKBACK_DAYS) + TICK if updates else None

    for order_id in snap.waiting_by_order:
        key = f"backorder:order:{order_id}"
        if wanted(key):
            order = snap.orders[order_id]
            silent = snap.last_sent.get(order_id) or order["placed_at"]
            steps = [
                line["backordered_at"] + timedelta(hours=step)
                for line in snap.waiting_by_order[order_id]
                if line["backordered_at"]
                for step in cadence
            ]
            aging = [
                aged_out(snap.updates_by_product.get(line["product_id"])) for line in snap.waiting_by_order[order_id]
            ]
            moments = _later(
                now,
                silent + timedelta(hours=SILENCE_HOURS),
                _next_day_boundary(order["placed_at"], now),
                *steps,
                *aging,
            )
            due[key] = min([midnight, *moments])
    for row in snap.shipments:
        key = f"tracking:shipment:{row['id']}"
        if wanted(key):
            gone = row["delivered_at"] + timedelta(days=DELIVERED_LOOKBACK_DAYS) + TICK if row["delivered_at"] else None
            due[key] = min([midnight, *_later(now, _next_day_boundary(row["label_created_at"], now), gone)])
    candidates = (
        set(snap.waiting_by_product)
        | {pid for pid, p in snap.products.items() if p["available"] <= snap.rules.stock_watch_at}
        | set(snap.updates_by_product)
    )
    for product_id in candidates:
        key = f"stockout:product:{product_id}"
        if wanted(key) and (keys is not None or product_id in snap.products):
            oldest_sale = snap.recent_oldest.get(product_id)
            sales = oldest_sale + timedelta(days=RECENT_SALES_DAYS) + TICK if oldest_sale else None
            due[key] = min([midnight, *_later(now, aged_out(snap.updates_by_product.get(product_id)), sales)])
    for product_id in snap.waiting_by_product:
        supplier_id = snap.primary_supplier.get(product_id)
        if supplier_id is not None and wanted(f"silence:supplier:{supplier_id}"):
            aging = _later(now, aged_out(snap.updates_by_supplier.get(supplier_id)))
            due[f"silence:supplier:{supplier_id}"] = min([midnight, *aging])
    for key in desired_keys:  # any other case kept open
        if wanted(key):
            due.setdefault(key, midnight)
    for key, row in snap.open_cases.items():  # a reply deadline passing
        deadline = row.get("reply_due_at")
        if key in due and deadline and not row.get("reply_overdue") and deadline > now:
            due[key] = min(due[key], deadline)
    return due


def write_clock(
    snap: Snapshot, desired_keys: set[str], keys: frozenset[str] | None, part: Container[str] | None = None
) -> int:
    """Make the future rows of ``keys`` (or of every key; of a full run in processes, every key of
    its ``part``) their next due times: one read, and a delete and an insert of what differs
    (nothing, when a run changed nothing)."""
    wanted = due_times(snap, desired_keys, keys, part)
    future = DirtyCaseKey.objects.filter(due_at__gt=snap.now)
    if keys is not None:
        future = future.filter(InList("key", keys))
    stale, kept = [], set()
    for pk, key, due_at in future.values_list("id", "key", "due_at"):
        if part is not None and key not in part:
            continue  # another process's
        if wanted.get(key) == due_at and key not in kept:
            kept.add(key)
        else:
            stale.append(pk)
    if stale:
        DirtyCaseKey.objects.filter(InList("id", stale)).delete()
    due = {key: at for key, at in wanted.items() if key not in kept}
    if connection.vendor == "postgresql" and due:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {DirtyCaseKey._meta.db_table} (key, due_at) "  # noqa: S608
                "SELECT * FROM unnest(%s::text[], %s::timestamptz[])",
                [list(due), list(due.values())],
            )
    elif due:
        DirtyCaseKey.objects.bulk_create([DirtyCaseKey(key=key, due_at=at) for key, at in due.items()])
    return len(due)
