"""Customer-facing arrival ranges. Never a single date: a range in business days with its coverage.

``customer_range`` is what messages, packets and the customer page call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import Product, StorePolicy

from .models import PurchaseOrderLine, SupplierSource


@dataclass(frozen=True)
class EtaRange:
    start: date
    end: date
    coverage: float  # the share of past arrivals such a range would have covered
    basis: str  # in words: what the range rests on

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("An ETA range cannot end before it starts")


def customer_range(
    product: Product, *, today: date | None = None, policy: StorePolicy | None = None
) -> EtaRange | None:
    """The range to tell a customer waiting on ``product``, or None when no date is known yet."""
    policy = policy or StorePolicy.objects.current()
    calendar = BusinessCalendar.for_policy(policy)
    today = today or calendar.local_date(timezone.now())
    source = (
        SupplierSource.objects.filter(product=product, active=True, role=SupplierSource.Role.PRIMARY)
        .select_related("supplier")
        .first()
    )
    if source is None:
        return None
    open_line = (
        PurchaseOrderLine.objects.filter(product=product, purchase_order__status__in=["sent", "approved", "partial"])
        .select_related("purchase_order")
        .order_by("purchase_order__quoted_at")
        .first()
    )
    transit = source.supplier.transit_days
    if open_line and open_line.purchase_order.quoted_at and open_line.purchase_order.quoted_at >= today:
        start = calendar.add_business_days(open_line.purchase_order.quoted_at, transit)
        basis = f"supplier quote on {open_line.purchase_order.reference} plus {transit} business days in transit"
    else:
        start = calendar.add_business_days(today, source.lead_time_days + transit)
        basis = f"{source.supplier.name}'s quoted lead time plus transit; no confirmed purchase order date"
    end = calendar.add_business_days(start, max(3, source.lead_time_days // 2))
    return EtaRange(start=start, end=end, coverage=float(policy.eta_coverage), basis=basis)
