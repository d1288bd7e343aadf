"""Primary and backup sources side by side: what a switch would cost, earn, take, and need.

``compare_sources(product)`` is what the packet builder calls for a "switch supplier" option.
"""

from __future__ import annotations

from decimal import Decimal

from backorders.models import Product, StorePolicy

from .models import SupplierSource, SupplierUpdate

UNAVAILABLE = {
    SupplierUpdate.StockStatus.OUT_OF_STOCK,
    SupplierUpdate.StockStatus.DISCONTINUED,
    SupplierUpdate.StockStatus.VARIANT_MISSING,
}


def compare_sources(product: Product, *, policy: StorePolicy | None = None) -> list[dict]:
    """Every active source of ``product``, primary first, then backups by cost.

    Each row: supplier, role, unit cost and its difference from the primary, the margin at the
    product's price and its change, lead time and transit, quality notes, the supplier's latest
    word on stock, and whether a switch to it needs the customer's agreement (``needs_consent``
    with ``consent_reasons``) or the owner's (``needs_owner``: dearer than the policy's
    replacement boundary, or sold at a loss). Three queries.
    """
    policy = policy or StorePolicy.objects.current()
    sources = sorted(
        SupplierSource.objects.filter(product=product, active=True).select_related("supplier"),
        key=lambda s: (s.role != SupplierSource.Role.PRIMARY, s.unit_cost, s.supplier.name),
    )
    latest: dict[int, SupplierUpdate] = {}
    for update in (
        SupplierUpdate.objects.filter(product=product, supplier_id__in=[s.supplier_id for s in sources])
        .exclude(kind=SupplierUpdate.Kind.SILENCE)
        .order_by("-received_at", "-id")
    ):
        latest.setdefault(update.supplier_id, update)
    primary = next((s for s in sources if s.role == SupplierSource.Role.PRIMARY), None)
    base_cost = primary.unit_cost if primary else product.cost
    price = product.price
    rows = []
    for source in sources:
        is_primary = source is primary
        margin = price - source.unit_cost
        cost_delta = source.unit_cost - base_cost
        consent = []
        if not is_primary:
            if source.replacement_needs_consent:
                consent.append("the goods differ enough that the customer must agree")
            if source.quality_notes.strip():
                consent.append(f"quality differs: {source.quality_notes.strip()}")
            if cost_delta > policy.replacement_boundary:
                consent.append(
                    f"costs {cost_delta} more a unit, above the {policy.replacement_boundary} replacement boundary"
                )
        owner = not is_primary and (cost_delta > policy.replacement_boundary or margin < 0)
        update = latest.get(source.supplier_id)
        rows.append(
            {
                "supplier_id": source.supplier_id,
                "supplier": source.supplier.name,
                "role": source.role,
                "is_primary": is_primary,
                "unit_cost": source.unit_cost,
                "cost_delta": cost_delta,
                "margin": margin,
                "margin_pct": (margin / price * 100).quantize(Decimal("0.1")) if price else None,
                "margin_impact": -cost_delta,
                "lead_time_days": source.lead_time_days,
                "transit_days": source.supplier.transit_days,
                "total_business_days": source.lead_time_days + source.supplier.transit_days,
                "quality_notes": source.quality_notes,
                "latest_stock_status": update.stock_status if update else SupplierUpdate.StockStatus.UNKNOWN,
                "latest_strength": update.strength if update else "",
                "available": not (update and update.stock_status in UNAVAILABLE),
                "needs_consent": bool(consent),
                "consent_reasons": consent,
                "needs_owner": owner,
                "deprioritised": source.supplier.deprioritised,
            }
        )
    return rows
