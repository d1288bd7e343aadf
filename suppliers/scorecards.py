"""Supplier scorecards: how a supplier has really behaved, in numbers and a weighted score.

Measures (all from facts the store holds):
- **on-time rate**: received purchase orders that arrived on or before the quoted day.
- **mean and worst lateness**: calendar days after the quoted day (early counts as 0 late).
- **repeat stockouts**: products with two or more out-of-stock updates from the supplier.
- **label-created-too-long rate**: of the supplier's drop-shipments (``Shipment`` shipped by the
  supplier, ``supplier_name`` = the supplier's name), the share whose label sat without a carrier
  scan longer than the policy's no-pickup window (still waiting, or picked up late).
- **silences**: times the supplier went quiet past its silence window (``SILENCE`` updates).

The score (0–100) weighs them as ``SCORE_WEIGHTS`` says; a measure with no data yet is left
out and the other weights are scaled up, so a new supplier is not punished for being new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import Shipment, StorePolicy, TrackingStatus

from .models import PurchaseOrder, Supplier, SupplierUpdate

SCORE_WEIGHTS = {
    "on_time": 40,  # on-time rate, as is
    "lateness": 20,  # 1 - mean days late / 10 (10+ days late on average scores 0)
    "stockouts": 15,  # 1 - products with repeat stockouts / 3
    "label": 15,  # 1 - label-created-too-long rate
    "silence": 10,  # 1 - silences in the last 90 days / 3
}
DEPRIORITISE_BELOW = 60
TREND_MONTHS = 12
SILENCE_WINDOW_DAYS = 90


@dataclass
class MonthTrend:
    month: date
    deliveries: int
    on_time_rate: float | None
    mean_lateness: float | None

    @property
    def label(self) -> str:
        return self.month.strftime("%b")


@dataclass
class Scorecard:
    supplier: Supplier
    deliveries: int = 0
    on_time: int = 0
    mean_lateness: float | None = None
    worst_lateness: int | None = None
    out_of_stock_updates: dict[int, int] = field(default_factory=dict)  # product id -> count
    dropships: int = 0
    label_too_long: int = 0
    silences: int = 0
    recent_silences: int = 0
    trend: list[MonthTrend] = field(default_factory=list)
    components: dict[str, float] = field(default_factory=dict)
    score: float | None = None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.deliveries if self.deliveries else None

    @property
    def repeat_stockouts(self) -> int:
        return sum(1 for count in self.out_of_stock_updates.values() if count >= 2)

    @property
    def label_too_long_rate(self) -> float | None:
        return self.label_too_long / self.dropships if self.dropships else None

    @property
    def should_deprioritise(self) -> bool:
        return self.score is not None and self.score < DEPRIORITISE_BELOW

    def score_components(self) -> None:
        parts: dict[str, float] = {}
        if self.deliveries:
            parts["on_time"] = self.on_time_rate
            parts["lateness"] = max(0.0, 1 - (self.mean_lateness or 0) / 10)
        parts["stockouts"] = max(0.0, 1 - self.repeat_stockouts / 3)
        if self.dropships:
            parts["label"] = 1 - self.label_too_long_rate
        parts["silence"] = max(0.0, 1 - self.recent_silences / 3)
        weight = sum(SCORE_WEIGHTS[name] for name in parts)
        self.components = parts
        self.score = round(100 * sum(SCORE_WEIGHTS[n] * v for n, v in parts.items()) / weight, 1)


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def scorecards(
    suppliers: Iterable[Supplier], *, policy: StorePolicy, now: datetime | None = None
) -> dict[int, Scorecard]:
    """Scorecards for ``suppliers`` in three queries, whatever their number."""
    suppliers = list(suppliers)
    now = now or timezone.now()
    calendar = BusinessCalendar.for_policy(policy)
    today = calendar.local_date(now)
    cards = {s.pk: Scorecard(supplier=s) for s in suppliers}
    months = [_month_start(today, back) for back in range(TREND_MONTHS - 1, -1, -1)]
    per_month: dict[int, dict[date, list[int]]] = defaultdict(lambda: defaultdict(list))
    lateness: dict[int, list[int]] = defaultdict(list)

    received = PurchaseOrder.objects.filter(
        supplier_id__in=cards, quoted_at__isnull=False, received_at__isnull=False
    ).exclude(status=PurchaseOrder.Status.CANCELLED)
    for supplier_id, quoted, received_at in received.values_list("supplier_id", "quoted_at", "received_at"):
        arrived = calendar.local_date(received_at)
        late = (arrived - quoted).days
        lateness[supplier_id].append(late)
        per_month[supplier_id][_month_start(arrived)].append(late)

    silence_since = now - timedelta(days=SILENCE_WINDOW_DAYS)
    for supplier_id, product_id, kind, status, received_at in SupplierUpdate.objects.filter(
        supplier_id__in=cards
    ).values_list("supplier_id", "product_id", "kind", "stock_status", "received_at"):
        card = cards[supplier_id]
        if kind == SupplierUpdate.Kind.SILENCE:
            card.silences += 1
            card.recent_silences += received_at >= silence_since
        elif status == SupplierUpdate.StockStatus.OUT_OF_STOCK and product_id:
            card.out_of_stock_updates[product_id] = card.out_of_stock_updates.get(product_id, 0) + 1

    by_name = {s.name: s.pk for s in suppliers}
    window = policy.no_pickup_business_days
    for name, status, label_at, first_scan in Shipment.objects.filter(
        shipped_by=Shipment.ShippedBy.SUPPLIER, supplier_name__in=by_name
    ).values_list("supplier_name", "status", "label_created_at", "first_scan_at"):
        card = cards[by_name[name]]
        card.dropships += 1
        if first_scan is not None:
            card.label_too_long += calendar.business_days_between(label_at, first_scan) > window
        elif status == TrackingStatus.LABEL_CREATED:
            card.label_too_long += calendar.business_days_between(label_at, now) > window

    for supplier_id, card in cards.items():
        values = lateness.get(supplier_id, [])
        if values:
            card.deliveries = len(values)
            card.on_time = sum(1 for v in values if v <= 0)
            card.mean_lateness = round(sum(max(0, v) for v in values) / len(values), 1)
            card.worst_lateness = max(0, *values)
        for month in months:
            late = per_month[supplier_id].get(month, [])
            card.trend.append(
                MonthTrend(
                    month=month,
                    deliveries=len(late),
                    on_time_rate=sum(1 for v in late if v <= 0) / len(late) if late else None,
                    mean_lateness=sum(max(0, v) for v in late) / len(late) if late else None,
                )
            )
        card.score_components()
    return cards


def scorecard(supplier: Supplier, *, policy: StorePolicy, now: datetime | None = None) -> Scorecard:
    return scorecards([supplier], policy=policy, now=now)[supplier.pk]
