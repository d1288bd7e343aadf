"""The weekly review: what went short, what stopped moving, and what the owner should change.

``build_weekly_review(now=..., policy=...)`` gathers it all in a fixed number of queries, for the
page (``/review/weekly/``), its print version and ``manage.py weekly_review --pdf``:

- **stockouts** by supplier, SKU and variant, with the waiting demand, the supplier's latest word
  and the outcome so far (the latest Outcome recorded on a case about it, else the latest
  Decision, else the case's status, else "no case yet");
- **stale tracking** (the policy's no-pickup and no-scan windows) by supplier (drop-ships name
  their supplier, the rest are the store's), by SKU and by region;
- **products to pause**: repeated stockouts, or nothing free with demand waiting and no way in;
- **product-page wording** that promises fast shipping on something backordered or gone, with
  a suggested replacement built from the ETA range in weeks ("Backordered: ships in 3–5 weeks."),
  which the product page writes to the store;
- **suppliers to deprioritise**: a scorecard score under ``DEPRIORITISE_BELOW``;
- **purchase orders awaiting approval** (proposed by the supplier follow-up), and approved ones
  still waiting for the supplier's confirmation (where each went, a form to record it);
- **customer replies**: time to a person's answer (median, 90th percentile), reply deadlines
  missed, and the cancellation rate of backordered orders (``review_replies``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import OrderLine, Product, Shipment, StorePolicy, TrackingStatus
from packets.notify.reply_times import reply_figures
from packets.store_actions.storefront import weeks_wording
from suppliers.charts import bar_chart
from suppliers.eta import customer_ranges
from suppliers.models import PurchaseOrder, Supplier, SupplierSource, SupplierUpdate
from suppliers.scorecards import DEPRIORITISE_BELOW, scorecards

from .models import Case, Decision, Outcome

UNAVAILABLE = {
    SupplierUpdate.StockStatus.OUT_OF_STOCK,
    SupplierUpdate.StockStatus.DISCONTINUED,
    SupplierUpdate.StockStatus.VARIANT_MISSING,
}
GONE = {SupplierUpdate.StockStatus.DISCONTINUED, SupplierUpdate.StockStatus.VARIANT_MISSING}
STOCK_CASE_KINDS = [Case.Kind.STOCKOUT, Case.Kind.BACKORDER]
MOVING = [
    TrackingStatus.ACCEPTED,
    TrackingStatus.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY,
    TrackingStatus.ATTEMPTED,
    TrackingStatus.UNKNOWN,
]
REPEAT_WINDOW_DAYS = 90
# Availability wording that promises more than a backordered product can keep.
FAST_PROMISE = re.compile(
    r"\bin stock\b|\bships? (?:in|within) \d+\s*(?:[-–]|to)?\s*\d*\s*(?:business |working )?days?\b|"
    r"\bships? (?:today|tomorrow|next day|same day|immediately)\b|\bready to ship\b|\bavailable now\b",
    re.IGNORECASE,
)


@dataclass
class StockoutRow:
    supplier: str
    product: Product
    waiting_units: int = 0
    waiting_orders: int = 0
    evidence: SupplierUpdate | None = None
    outcome: str = "No case yet"


@dataclass
class StaleRow:
    shipment: Shipment
    reason: str
    supplier: str
    region: str
    skus: list[str] = field(default_factory=list)


def build_weekly_review(*, now: datetime | None = None, policy: StorePolicy | None = None) -> dict:
    now = now or timezone.now()
    policy = policy or StorePolicy.objects.current()
    calendar = BusinessCalendar.for_policy(policy)
    start = now - timedelta(days=7)
    products, demand, sources, latest, repeats = _stock_facts(now, start)
    stockouts = _stockouts(products, demand, sources, latest, start)
    stale = _stale_shipments(now, policy, calendar)
    etas = customer_ranges(products.values(), today=calendar.local_date(now), policy=policy)
    pause = _to_pause(products, demand, latest, repeats, policy)
    wording = _wording(products, demand, latest, etas, calendar.local_date(now))
    suppliers = list(Supplier.objects.filter(active=True).order_by("name"))
    cards = scorecards(suppliers, policy=policy, now=now)
    deprioritise = [cards[s.pk] for s in suppliers if cards[s.pk].should_deprioritise and not s.deprioritised]
    proposals = list(
        PurchaseOrder.objects.filter(status=PurchaseOrder.Status.PROPOSED)
        .select_related("supplier")
        .prefetch_related("lines__product")
        .order_by("supplier__name")
    )
    awaiting_confirmation = list(
        PurchaseOrder.objects.filter(
            status__in=[PurchaseOrder.Status.APPROVED, PurchaseOrder.Status.SENT], confirmed_at__isnull=True
        )
        .exclude(approved_at__isnull=True)
        .select_related("supplier")
        .order_by("approved_at", "pk")
    )
    by_supplier = Counter()
    for row in stockouts:
        by_supplier[row.supplier] += row.waiting_units
    stale_supplier = Counter(row.supplier for row in stale)
    stale_region = Counter(row.region for row in stale)
    stale_sku = Counter(sku for row in stale for sku in row.skus)
    low_scores = {cards[s.pk].supplier.name for s in suppliers if cards[s.pk].should_deprioritise}
    return {
        "now": now,
        "period_start": start,
        "store_time_zone": settings.STORE_TIME_ZONE,
        "policy": policy,
        "stockouts": stockouts,
        "stale": stale,
        "stale_by_supplier": stale_supplier.most_common(),
        "stale_by_sku": stale_sku.most_common(10),
        "stale_by_region": stale_region.most_common(),
        "to_pause": pause,
        "wording": wording,
        "deprioritise": deprioritise,
        "scorecards": [cards[s.pk] for s in suppliers],
        "proposals": proposals,
        "awaiting_confirmation": awaiting_confirmation,
        "replies": reply_figures(start, now),
        "deprioritise_below": DEPRIORITISE_BELOW,
        "charts": {
            "waiting_by_supplier": bar_chart(
                by_supplier.most_common(), title="Units waiting, by supplier", unit=" units"
            ),
            "stale_by_supplier": bar_chart(stale_supplier.most_common(), title="Stale shipments, by shipper"),
            "stale_by_region": bar_chart(stale_region.most_common(8), title="Stale shipments, by region"),
            "scores": bar_chart(
                [(c.supplier.name, c.score or 0) for c in cards.values()],
                title=f"Supplier scores (under {DEPRIORITISE_BELOW} in red)",
                max_value=100,
                highlight=low_scores,
            ),
        },
    }


def _stock_facts(now, start):
    """The products worth a look this week, with demand, sources, latest evidence and repeat stockouts."""
    demand = {
        row["product_id"]: row
        for row in OrderLine.objects.waiting()
        .values("product_id")
        .annotate(units=Sum(F("quantity") - F("allocated")), orders=Count("order_id", distinct=True))
    }
    recent_updates = list(
        SupplierUpdate.objects.filter(product__isnull=False, received_at__gte=now - timedelta(days=REPEAT_WINDOW_DAYS))
        .exclude(kind=SupplierUpdate.Kind.SILENCE)
        .order_by("-received_at", "-id")
        .values_list("product_id", "stock_status", "received_at")
    )
    repeats = Counter(pid for pid, status, _ in recent_updates if status == SupplierUpdate.StockStatus.OUT_OF_STOCK)
    flagged = {pid for pid, status, at in recent_updates if status in UNAVAILABLE and at >= start}
    case_products = set(
        Case.objects.filter(kind__in=STOCK_CASE_KINDS)
        .filter(Q(opened_at__gte=start) | ~Q(status=Case.Status.RESOLVED))
        .filter(product__isnull=False)
        .values_list("product_id", flat=True)
    )
    ids = set(demand) | flagged | case_products
    products = {p.pk: p for p in Product.objects.filter(pk__in=ids).order_by("sku")}
    sources = {
        s.product_id: s
        for s in SupplierSource.objects.filter(
            product_id__in=ids, role=SupplierSource.Role.PRIMARY, active=True
        ).select_related("supplier")
    }
    latest: dict[int, SupplierUpdate] = {}
    for update in (
        SupplierUpdate.objects.filter(product_id__in=ids)
        .exclude(kind=SupplierUpdate.Kind.SILENCE)
        .order_by("-received_at", "-id")
    ):
        latest.setdefault(update.product_id, update)
    return products, demand, sources, latest, repeats


def _stockouts(products, demand, sources, latest, start) -> list[StockoutRow]:
    rows = {}
    for pid, product in products.items():
        source = sources.get(pid)
        row = StockoutRow(supplier=source.supplier.name if source else "No supplier", product=product)
        row.waiting_units = demand.get(pid, {}).get("units") or 0
        row.waiting_orders = demand.get(pid, {}).get("orders") or 0
        row.evidence = latest.get(pid)
        rows[pid] = row
    _attach_outcomes(rows, start)
    return sorted(rows.values(), key=lambda r: (r.supplier, r.product.sku))


def _attach_outcomes(rows: dict[int, StockoutRow], start) -> None:
    """The latest word on each product's stock cases: outcome, else decision, else case status."""
    ids = list(rows)
    pairs = set(
        Case.objects.filter(kind__in=STOCK_CASE_KINDS, product_id__in=ids).values_list("id", "product_id")
    ) | set(
        Case.objects.filter(kind__in=STOCK_CASE_KINDS, order__lines__product_id__in=ids).values_list(
            "id", "order__lines__product_id"
        )
    )
    by_case = defaultdict(set)
    for case_id, product_id in pairs:
        if product_id in rows:
            by_case[case_id].add(product_id)
    if not by_case:
        return
    told: set[int] = set()
    for case_id, kind in (
        Outcome.objects.filter(case_id__in=by_case).order_by("-recorded_at", "-id").values_list("case_id", "kind")
    ):
        for pid in by_case[case_id] - told:
            rows[pid].outcome = Outcome.Kind(kind).label
            told.add(pid)
    for case_id, action, status in (
        Decision.objects.filter(case_id__in=by_case)
        .order_by("-decided_at", "-id")
        .values_list("case_id", "action", "status")
    ):
        for pid in by_case[case_id] - told:
            rows[pid].outcome = f"Decision: {Decision.Action(action).label.lower()} ({status})"
            told.add(pid)
    for case_id, status in Case.objects.filter(pk__in=by_case).values_list("id", "status"):
        for pid in by_case[case_id] - told:
            rows[pid].outcome = f"Case {Case.Status(status).label.lower()}, no outcome yet"
            told.add(pid)


def _stale_shipments(now, policy, calendar) -> list[StaleRow]:
    home = getattr(settings, "STORE_COUNTRY", "US")
    shipments = (
        Shipment.objects.filter(
            status__in=[TrackingStatus.LABEL_CREATED, TrackingStatus.EXCEPTION, TrackingStatus.EXPIRED, *MOVING]
        )
        .select_related("order")
        .prefetch_related("order__lines__product")
        .order_by("label_created_at")
    )
    rows = []
    for shipment in shipments:
        order = shipment.order
        country = (shipment.destination_country or order.shipping_country or home).upper()
        if shipment.status == TrackingStatus.LABEL_CREATED:
            idle = calendar.business_days_between(shipment.label_created_at, now)
            limit, what = policy.no_pickup_business_days, "no carrier pickup"
        elif shipment.status in (TrackingStatus.EXCEPTION, TrackingStatus.EXPIRED):
            idle, limit, what = 1, 0, shipment.get_status_display().lower()
        else:
            last = shipment.last_scan_at or shipment.first_scan_at or shipment.label_created_at
            idle = calendar.business_days_between(last, now)
            limit = (
                policy.no_scan_domestic_business_days if country == home else policy.no_scan_international_business_days
            )
            what = "no scan"
        if idle <= limit:
            continue
        reason = (
            what
            if shipment.status in (TrackingStatus.EXCEPTION, TrackingStatus.EXPIRED)
            else f"{what} for {idle} business days"
        )
        shipper = shipment.supplier_name if shipment.shipped_by == Shipment.ShippedBy.SUPPLIER else "Store"
        region = ", ".join(part for part in [order.shipping_region, country] if part) or "Unknown"
        skus = sorted({line.product.sku for line in order.lines.all()})
        rows.append(StaleRow(shipment, reason, shipper or "Supplier (unnamed)", region, skus))
    return rows


def _to_pause(products, demand, latest, repeats, policy) -> list[dict]:
    rows = []
    for pid, product in products.items():
        if product.status != Product.Status.ACTIVE:
            continue
        waiting = demand.get(pid, {}).get("units") or 0
        free = product.on_hand - product.allocated
        update = latest.get(pid)
        reasons = []
        if repeats[pid] >= 2:
            reasons.append(f"{repeats[pid]} out-of-stock reports in {REPEAT_WINDOW_DAYS} days")
        if update and update.stock_status in GONE:
            reasons.append(f"supplier says {update.get_stock_status_display().lower()}")
        if waiting and free <= policy.stock_paused_at and product.on_order <= 0:
            reasons.append(f"{_units(waiting)} waiting, {max(free, 0)} free and none on order")
        if reasons:
            rows.append({"product": product, "waiting": waiting, "free": free, "reasons": reasons})
    return rows


def _wording(products, demand, latest, etas, today) -> list[dict]:
    rows = []
    for pid, product in products.items():
        wording = product.product_page_wording.strip()
        if not wording or not FAST_PROMISE.search(wording):
            continue
        waiting = demand.get(pid, {}).get("units") or 0
        free = product.on_hand - product.allocated
        update = latest.get(pid)
        gone = product.status == Product.Status.DISCONTINUED or (update and update.stock_status in GONE)
        if not (gone or waiting or free <= 0):
            continue
        eta = etas.get(pid)
        if gone:
            suggestion, why = "Sold out: no longer available.", "discontinued or the variant is gone"
        elif eta:
            suggestion = weeks_wording(eta.start, eta.end, today)  # a range of weeks, never a date
            why = f"{_units(waiting)} waiting, {max(free, 0)} free"
        else:
            suggestion = "Backordered: our supplier has not confirmed a date yet; we will email you when it ships."
            why = f"{_units(waiting)} waiting and no confirmed date"
        rows.append({"product": product, "current": wording, "suggested": suggestion, "why": why})
    return rows


def _units(count: int) -> str:
    return f"{count} unit{'s' if count != 1 else ''}"


def weekly_review_alert(now: datetime | None = None) -> str:
    """The scheduled weekly run: a short summary for the staff channel, linking to the full review.

    Once per ISO week (the alert's key), whatever the schedule or a retry does.
    """
    from packets.notify.messaging import queue_staff_alert

    now = now or timezone.now()
    review = build_weekly_review(now=now)
    year, week, _ = now.isocalendar()
    text = (
        f"Weekly review, week {week}: {len(review['stockouts'])} stockouts, {len(review['stale'])} stale shipments, "
        f"{len(review['to_pause'])} products to consider pausing, {len(review['wording'])} product pages to reword, "
        f"{len(review['deprioritise'])} suppliers to deprioritise, {len(review['proposals'])} purchase orders "
        f"awaiting approval. {_replies_line(review['replies'])}{settings.SITE_URL}/review/weekly/"
    )
    queue_staff_alert(text, key=f"review:{year}-W{week:02d}")
    return text


def _replies_line(replies: dict) -> str:
    answered = (
        f"answered in {replies['median_hours']} h (median), {replies['p90_hours']} h (90th percentile)"
        if replies["median_hours"] is not None
        else "none answered yet"
    )
    cancelled = (
        f", {replies['cancellation_rate']}% of backordered orders cancelled" if replies["backordered_orders"] else ""
    )
    return (
        f"Customers wrote {replies['received']} times: {answered}, {replies['breaches']} reply deadlines "
        f"missed{cancelled}. "
    )
