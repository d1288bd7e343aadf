"""Customer-facing arrival ranges. Never a single date: a range in business days with its coverage.

The lateness model (``suppliers.lateness``), in words:

1. Every received purchase order is one observation of *lateness*: the business days between
   the arrival date the supplier quoted (``PurchaseOrder.quoted_at``) and the day the goods
   reached us (``received_at``, in the store's time zone). Early arrivals are negative. Docks
   and carriers work business days, so counting them keeps weekends out of the noise.
2. Each supplier's lateness has a centre (its median; when it drifts, its recent trend line at
   the quoted day) and residuals around it. The range is the centre plus the split-conformal
   quantiles of the residuals at ``(1 - c) / 2`` and ``(1 + c) / 2``, ``c`` the policy's
   ``eta_coverage``: the supplier's own, shrunk toward every supplier's by ``n / (n + 6)``.
3. A supplier with fewer than 20 arrivals is honest about it: its centre leans toward all
   suppliers', its range is widened, and ``EtaRange.sureness`` says so.
4. Goods already past their quote use only the part of the record later than that. The range is
   at least one business day wide: the model never promises a single day.

What the quote is depends on what we know: an open purchase order's quoted arrival date; else
the supplier's latest restock window plus ``Supplier.transit_days``; else the source's quoted
lead time plus transit, counted from today. A discontinued or missing variant, or an
out-of-stock answer with no date, has no range (``None``): the packet says "no date yet".

``customer_range`` is what messages, packets and the customer page call; ``customer_ranges``
does the same for many products in a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import Product, StorePolicy

from .lateness import Arrival, Interval, LatenessModel
from .models import PurchaseOrder, PurchaseOrderLine, SupplierSource, SupplierUpdate

__all__ = ["Arrival", "EtaRange", "LatenessModel", "customer_range", "customer_ranges", "shift_business_days"]

HISTORY_DAYS = 730


@dataclass(frozen=True)
class EtaRange:
    start: date
    end: date
    coverage: float  # the share of past arrivals such a range would have covered
    basis: str  # in words: what the range rests on
    rolling: bool = False  # counted from today (no quote, no restock window): it moves every day
    sureness: str = ""  # in words: how sure the range is (what it covered lately, how late lately)

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("An ETA range cannot end before it starts")


def shift_business_days(calendar: BusinessCalendar, day: date, days: int) -> date:
    """``day`` moved by ``days`` business days, backwards when negative."""
    if days >= 0:
        return calendar.add_business_days(day, days)
    while days < 0:
        day -= timedelta(days=1)
        if calendar.is_business_day(day):
            days += 1
    return day


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
) -> tuple[date, date, Interval]:
    """Where goods quoted for ``quoted`` will arrive, given what the model knows."""
    lead_days = max(1, (quoted - ordered).days)
    overdue = calendar.business_days_between(quoted, today) if today and today > quoted else None
    bounds = model.interval(supplier_id, coverage, lead_days=lead_days, later_than=overdue, at=quoted)
    start, end = business_range(
        calendar,
        shift_business_days(calendar, quoted, bounds.low),
        shift_business_days(calendar, quoted, bounds.high),
        not_before=max(ordered + timedelta(days=1), (today + timedelta(days=1)) if today else ordered),
    )
    return start, end, bounds


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
        start, end, bounds = arrival_range(
            model,
            calendar,
            supplier_id=supplier.pk,
            quoted=po.quoted_at,
            ordered=calendar.local_date(po.ordered_at),
            coverage=coverage,
            today=today,
        )
        overdue = " (already past its quote)" if po.quoted_at < today else ""
        return EtaRange(
            start,
            end,
            coverage,
            f"{supplier.name}'s quote on {po.reference}{overdue}; {bounds.basis}",
            sureness=bounds.sureness(coverage),
        )
    if update is not None and update.stock_status in NO_RANGE_STATUSES:
        return None
    if update is not None and update.restock_from and update.restock_to and update.restock_to >= today:
        quoted_from = calendar.add_business_days(max(update.restock_from, today), transit)
        quoted_to = calendar.add_business_days(update.restock_to, transit)
        bounds = model.interval(supplier.pk, coverage, lead_days=(quoted_to - today).days, at=quoted_to)
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
            sureness=bounds.sureness(coverage),
        )
    if update is not None and update.stock_status == SupplierUpdate.StockStatus.OUT_OF_STOCK:
        return None
    quoted = calendar.add_business_days(today, source.lead_time_days + transit)
    start, end, bounds = arrival_range(
        model, calendar, supplier_id=supplier.pk, quoted=quoted, ordered=today, coverage=coverage, today=today
    )
    return EtaRange(
        start,
        end,
        coverage,
        f"{supplier.name}'s quoted lead time of {source.lead_time_days} business days plus {transit} in transit, "
        f"if ordered today; {bounds.basis}",
        rolling=True,
        sureness=bounds.sureness(coverage),
    )


def customer_range(
    product: Product, *, today: date | None = None, policy: StorePolicy | None = None
) -> EtaRange | None:
    """The range to tell a customer waiting on ``product``, or None when no date is known yet."""
    return customer_ranges([product], today=today, policy=policy)[product.pk]
