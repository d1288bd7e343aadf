"""Supplier updates through the generic intake (``POST /webhooks/generic/``, type ``supplier_update``).

The words go through the same evidence reading as a pasted email (``suppliers.evidence``), so a
structured update and a forwarded email are judged alike: kind, dates, strength, conflicts.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q

from backorders.intake.common import MappingError, text, to_datetime
from backorders.intake.outcome import Outcome
from backorders.models import Product, WebhookDelivery

from .evidence import record_update
from .models import Supplier

STATUS_WORDS = {
    "in_stock": "in stock",
    "out_of_stock": "out of stock",
    "discontinued": "discontinued",
    "variant_missing": "this variant is no longer made",
}


def _words(data: dict) -> str:
    """The supplier's own words, or a sentence made of the structured fields."""
    said = text(data.get("text"), 5000)
    if said:
        return said
    parts = []
    status = text(data.get("stock_status"), 32)
    if status:
        if status not in STATUS_WORDS:
            raise MappingError(f"stock_status must be one of {', '.join(STATUS_WORDS)}; got {status!r}")
        parts.append(f"Stock status: {STATUS_WORDS[status]}.")
    start = text(data.get("restock_from") or data.get("restock_estimate"), 32)
    end = text(data.get("restock_to"), 32)
    if start and end:
        parts.append(f"Restock expected between {start} and {end}.")
    elif start:
        parts.append(f"Restock expected on {start}.")
    tracking = text(data.get("tracking_number"), 128)
    if tracking:
        parts.append(f"Dispatched with tracking number {tracking}.")
    if not parts:
        raise MappingError("a supplier update needs text, or a stock_status, restock date or tracking number")
    return " ".join(parts)


def handle_supplier_update(delivery: WebhookDelivery, data: dict) -> Outcome:
    name = text(data.get("supplier"), 255)
    if not name:
        raise MappingError("a supplier update needs supplier (its code or name)")
    supplier = Supplier.objects.filter(Q(code__iexact=name) | Q(name__iexact=name)).first()
    if supplier is None:
        raise MappingError(f"no supplier has the code or name {name!r}; add it, then replay this delivery")
    product = None
    sku = text(data.get("sku"), 128)
    if sku:
        product = Product.objects.filter(sku=sku).first()
        if product is None:
            raise MappingError(f"no product has SKU {sku!r}; send its order or add it, then replay this delivery")
    received_at = to_datetime(data.get("received_at"), field="received_at") if data.get("received_at") else None
    try:
        update = record_update(supplier, _words(data), product=product, received_at=received_at)
    except ValidationError as exc:
        raise MappingError("; ".join(exc.messages)) from None
    return Outcome(note=f"{supplier.name}: {update.get_kind_display().lower()} ({update.strength})")
