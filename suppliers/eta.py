"""Customer-facing arrival ranges. Never a single date: a range in business days with its coverage.

The model, in words:

1. Every received purchase order is one observation of *lateness*: the business days between
   the arrival date the supplier quoted (``PurchaseOrder.quoted_at``) and the day the goods
   reached us (``received_at``, in the store's time zone). Early arrivals are negative. Docks
   and carriers work business days, so counting them keeps weekends out of the noise.
2. Recent history counts more: an observation ``age`` days old weighs ``0.5 ** (age / HALF_LIFE_DAYS)``.
3. The range for a quote is the quote shifted by the lateness quantiles ``(1 - c) / 2`` and
   ``(1 + c) / 2`` (in business days), ``c`` the policy's ``eta_coverage``, and widened to at
   least one business day: the model never promises a single day.
4. A supplier with little history is shrunk toward all suppliers: each quantile is
   ``w × (the supplier's own) + (1 − w) × (every supplier's)``, with ``w = n / (n + PRIOR_WEIGHT)``
   and ``n`` the supplier's effective sample size (Kish's, after the decay weights). Shrinking
   the quantiles rather than pooling the observations keeps a punctual supplier's range narrow
   while a new supplier borrows the store's experience.

What the quote is depends on what we know: an open purchase order's quoted arrival date; else
the supplier's latest restock window plus ``Supplier.transit_days``; else the source's quoted
lead time plus transit, counted from today. A discontinued or missing variant, or an
out-of-stock answer with no date, has no range (``None``): the packet says "no date yet".

``customer_range`` is what messages, packets and the customer page call; ``customer_ranges``
does the same for many products in a fixed number of queries.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import Product, StorePolicy

from .models import PurchaseOrder, PurchaseOrderLine, SupplierSource, SupplierUpdate

HALF_LIFE_DAYS = 120
PRIOR_WEIGHT = 3.0
HISTORY_DAYS = 730
COLD_START_SPREAD = 0.3  # with no history at all: up to 30% of the quoted lead time late


@dataclass(frozen=True)
class EtaRange:
    start: date
    end: date
    coverage: float  # the share of past arrivals such a range would have covered
    basis: str  # in words: what the range rests on
    rolling: bool = False  # counted from today (no quote, no restock window): it moves every day

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("An ETA range cannot end before it starts")


@dataclass(frozen=True)
class Arrival:
    """One received purchase order, as the model sees it."""

    supplier_id: int
    ordered_at: datetime
    quoted: date
    received_at: datetime
    received: date  # the local day it arrived
    reference: str = ""

    def lateness(self, calendar: BusinessCalendar) -> int:
        """Business days after the quoted day (negative when early)."""
        if self.received >= self.quoted:
            return calendar.business_days_between(self.quoted, self.received)
        return -calendar.business_days_between(self.received, self.quoted)


def shift_business_days(calendar: BusinessCalendar, day: date, days: int) -> date:
    """``day`` moved by ``days`` business days, backwards when negative."""
    if days >= 0:
        return calendar.add_business_days(day, days)
    while days < 0:
        day -= timedelta(days=1)
        if calendar.is_business_day(day):
            days += 1
    return day


def _weighted_quantile(points: Sequence[tuple[float, float]], q: float) -> float:
    """The smallest value whose cumulative weight share reaches ``q``; points are (value, weight)."""
    ordered = sorted(points)
    total = sum(weight for _, weight in ordered)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= q * total - 1e-12:
            return value
    return ordered[-1][0]


def _kish(points: Sequence[tuple[float, float]]) -> float:
    """Effective sample size of weighted points: (sum w)^2 / sum w^2."""
    total = sum(w for _, w in points)
    return total * total / sum(w * w for _, w in points) if points else 0.0


def _small_sample_tail(tail: float, n: float) -> float:
    """The quantile level to use for a tail of ``tail`` from ``n`` observations.

    An empirical quantile from few points covers less than its level promises; as in split
    conformal prediction, aim for the ``(n + 1)``-th share instead: ``tail - (1 - tail) / n``.
    """
    return max(0.0, tail - (1 - tail) / n) if n else 0.0


@dataclass(frozen=True)
class Interval:
    low: int  # days relative to the quote
    high: int
    basis: str


class LatenessModel:
    """Lateness quantiles per supplier from the arrivals known at ``as_of``."""

    def __init__(
        self,
        arrivals: Iterable[Arrival],
        *,
        as_of: date,
        calendar: BusinessCalendar,
        half_life_days: float = HALF_LIFE_DAYS,
        prior_weight: float = PRIOR_WEIGHT,
    ):
        self.as_of = as_of
        self.prior_weight = prior_weight
        self.by_supplier: dict[int, list[tuple[float, float]]] = defaultdict(list)
        self.pool: list[tuple[float, float]] = []
        for arrival in arrivals:
            age = max(0, (as_of - arrival.received).days)
            point = (float(arrival.lateness(calendar)), 0.5 ** (age / half_life_days))
            self.by_supplier[arrival.supplier_id].append(point)
            self.pool.append(point)

    def effective_n(self, supplier_id: int) -> float:
        return _kish(self.by_supplier.get(supplier_id, []))

    def share(self, supplier_id: int) -> float:
        """How much the supplier's own history counts against all suppliers': n / (n + k)."""
        n = self.effective_n(supplier_id)
        return n / (n + self.prior_weight) if n else 0.0

    def interval(self, supplier_id: int, coverage: float, *, lead_days: int, later_than: int | None = None) -> Interval:
        """Lateness bounds (business days after the quote) covering ``coverage`` of arrivals.

        ``later_than``: the goods are already this many business days past the quote and not
        here, so only the part of each distribution beyond it applies.
        """
        own = self.by_supplier.get(supplier_id, [])
        pool = self.pool
        if later_than is not None:
            own = [(v, w) for v, w in own if v > later_than]
            pool = [(v, w) for v, w in pool if v > later_than]
        if not pool:
            spread = max(2, math.ceil(COLD_START_SPREAD * max(lead_days, 1) * 5 / 7))
            low = 0 if later_than is None else later_than + 1
            return Interval(low, low + spread, "no arrival history yet: a default spread")
        tail = (1 - coverage) / 2
        pool_tail = _small_sample_tail(tail, _kish(pool))
        pool_low, pool_high = _weighted_quantile(pool, pool_tail), _weighted_quantile(pool, 1 - pool_tail)
        share = self.share(supplier_id) if own else 0.0
        if own:
            own_tail = _small_sample_tail(tail, _kish(own))
            low = share * _weighted_quantile(own, own_tail) + (1 - share) * pool_low
            high = share * _weighted_quantile(own, 1 - own_tail) + (1 - share) * pool_high
            basis = (
                f"{len(self.by_supplier[supplier_id])} past deliveries from this supplier "
                f"(weight {share:.0%}, the rest all suppliers')"
            )
        else:
            low, high = pool_low, pool_high
            basis = f"no deliveries from this supplier yet: all suppliers' {len(self.pool)} deliveries"
        return Interval(math.floor(low), math.ceil(high), basis)


def business_range(calendar: BusinessCalendar, start: date, end: date, *, not_before: date | None = None):
    """Move a calendar range onto business days: start forward, end back, at least one day wide."""
    if not_before and start < not_before:
        start = not_before
    while not calendar.is_business_day(start):
        start += timedelta(days=1)
    while end > start and not calendar.is_business_day(end):
        end -= timedelta(days=1)
    if end <= start:
        end = calendar.add_business_days(start, 1)
    return start, end


def arrival_range(
    model: LatenessModel,
    calendar: BusinessCalendar,
    *,
    supplier_id: int,
    quoted: date,
    ordered: date,
    coverage: float,
    today: date | None = None,
) -> tuple[date, date, str]:
    """Where goods quoted for ``quoted`` will arrive, given what the model knows."""
    lead_days = max(1, (quoted - ordered).days)
    overdue = calendar.business_days_between(quoted, today) if today and today > quoted else None
    bounds = model.interval(supplier_id, coverage, lead_days=lead_days, later_than=overdue)
    start, end = business_range(
        calendar,
        shift_business_days(calendar, quoted, bounds.low),
        shift_business_days(calendar, quoted, bounds.high),
        not_before=max(ordered + timedelta(days=1), (today + timedelta(days=1)) if today else ordered),
    )
    return start, end, bounds.basis


def load_arrivals(*, since: date | None = None) -> list[Arrival]:
    """Received purchase orders with a quote, oldest order first: one query."""
    calendar = BusinessCalendar()
    rows = PurchaseOrder.objects.filter(quoted_at__isnull=False, received_at__isnull=False).exclude(
        status=PurchaseOrder.Status.CANCELLED
    )
    if since:
        rows = rows.filter(ordered_at__date__gte=since)
    return [
        Arrival(
            supplier_id=supplier_id,
            ordered_at=ordered_at,
            quoted=quoted,
            received_at=received_at,
            received=calendar.local_date(received_at),
            reference=reference,
        )
        for supplier_id, ordered_at, quoted, received_at, reference in rows.order_by("ordered_at", "id").values_list(
            "supplier_id", "ordered_at", "quoted_at", "received_at", "reference"
        )
    ]


OPEN_PO_STATUSES = [PurchaseOrder.Status.APPROVED, PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIAL]
NO_RANGE_STATUSES = {SupplierUpdate.StockStatus.DISCONTINUED, SupplierUpdate.StockStatus.VARIANT_MISSING}


def customer_ranges(
    products: Iterable[Product | int], *, today: date | None = None, policy: StorePolicy | None = None
) -> dict[int, EtaRange | None]:
    """``customer_range`` for many products (rows or ids): four queries whatever their number."""
    ids = [getattr(p, "pk", p) for p in products]
    policy = policy or StorePolicy.objects.current()
    calendar = BusinessCalendar.for_policy(policy)
    today = today or calendar.local_date(timezone.now())
    coverage = float(policy.eta_coverage)
    sources = {
        s.product_id: s
        for s in SupplierSource.objects.filter(
            product_id__in=ids, active=True, role=SupplierSource.Role.PRIMARY
        ).select_related("supplier")
    }
    open_lines: dict[int, PurchaseOrderLine] = {}
    for line in (
        PurchaseOrderLine.objects.filter(
            product_id__in=ids, purchase_order__status__in=OPEN_PO_STATUSES, purchase_order__quoted_at__isnull=False
        )
        .select_related("purchase_order")
        .order_by("purchase_order__quoted_at", "id")
    ):
        if line.quantity > line.received_quantity:
            open_lines.setdefault(line.product_id, line)
    latest: dict[int, SupplierUpdate] = {}
    for update in (
        SupplierUpdate.objects.filter(product_id__in=ids)
        .exclude(kind=SupplierUpdate.Kind.SILENCE)
        .order_by("product_id", "-received_at", "-id")
    ):
        latest.setdefault(update.product_id, update)
    model = LatenessModel(load_arrivals(since=today - timedelta(days=HISTORY_DAYS)), as_of=today, calendar=calendar)

    ranges: dict[int, EtaRange | None] = {}
    for pk in ids:
        source = sources.get(pk)
        ranges[pk] = (
            _range_for(source, open_lines.get(pk), latest.get(pk), model, calendar, today, coverage) if source else None
        )
    return ranges


def _range_for(source, open_line, update, model, calendar, today, coverage) -> EtaRange | None:
    supplier = source.supplier
    transit = supplier.transit_days
    if open_line is not None:
        po = open_line.purchase_order
        start, end, basis = arrival_range(
            model,
            calendar,
            supplier_id=supplier.pk,
            quoted=po.quoted_at,
            ordered=calendar.local_date(po.ordered_at),
            coverage=coverage,
            today=today,
        )
        overdue = " (already past its quote)" if po.quoted_at < today else ""
        return EtaRange(start, end, coverage, f"{supplier.name}'s quote on {po.reference}{overdue}; {basis}")
    if update is not None and update.stock_status in NO_RANGE_STATUSES:
        return None
    if update is not None and update.restock_from and update.restock_to and update.restock_to >= today:
        quoted_from = calendar.add_business_days(max(update.restock_from, today), transit)
        quoted_to = calendar.add_business_days(update.restock_to, transit)
        bounds = model.interval(supplier.pk, coverage, lead_days=(quoted_to - today).days)
        start, end = business_range(
            calendar,
            shift_business_days(calendar, quoted_from, bounds.low),
            shift_business_days(calendar, quoted_to, max(bounds.high, 0)),
            not_before=today + timedelta(days=1),
        )
        return EtaRange(
            start,
            end,
            coverage,
            f"{supplier.name}'s {update.get_strength_display().lower()} restock window "
            f"{update.restock_from:%b %d}–{update.restock_to:%b %d} plus {transit} business days in transit; "
            f"{bounds.basis}",
        )
    if update is not None and update.stock_status == SupplierUpdate.StockStatus.OUT_OF_STOCK:
        return None
    quoted = calendar.add_business_days(today, source.lead_time_days + transit)
    start, end, basis = arrival_range(
        model, calendar, supplier_id=supplier.pk, quoted=quoted, ordered=today, coverage=coverage, today=today
    )
    return EtaRange(
        start,
        end,
        coverage,
        f"{supplier.name}'s quoted lead time of {source.lead_time_days} business days plus {transit} in transit, "
        f"if ordered today; {basis}",
        rolling=True,
    )


def customer_range(
    product: Product, *, today: date | None = None, policy: StorePolicy | None = None
) -> EtaRange | None:
    """The range to tell a customer waiting on ``product``, or None when no date is known yet."""
    return customer_ranges([product], today=today, policy=policy)[product.pk]
