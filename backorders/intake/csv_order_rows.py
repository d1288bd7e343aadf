"""One row of Shopify's orders export, read into order and line facts, or refused with its column.

``csv_orders`` groups the rows by ``Name`` and calls ``_order_facts`` on an order's first row and
``_line_facts`` on each of its rows; a bad value raises ``_RowError(column, reason)``, which
rejects the whole order in the report. Nothing here touches the database.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..models import Channel, Order
from .csv_import import MAX_UNITS, Row, parse_time
from .orders import CustomerFacts, LineFacts, OrderFacts

PAYMENT_STATE = {
    "pending": Order.PaymentState.PENDING,
    "authorized": Order.PaymentState.AUTHORIZED,
    "partially_paid": Order.PaymentState.PENDING,
    "paid": Order.PaymentState.PAID,
    "partially_refunded": Order.PaymentState.PARTIALLY_REFUNDED,
    "refunded": Order.PaymentState.REFUNDED,
    "voided": Order.PaymentState.VOIDED,
    "expired": Order.PaymentState.VOIDED,
}

MAX_AMOUNT = Decimal("9999999999.99")  # the money columns are numeric(12, 2)


class _RowError(Exception):
    def __init__(self, column: str, reason: str):
        super().__init__(reason)
        self.column, self.reason = column, reason


def _value(row: Row, cols: dict, name: str) -> str:
    key = cols[name]
    return row[key] if key else ""


def _money(row: Row, cols: dict, name: str, *, required: bool = False) -> Decimal:
    raw = _value(row, cols, name).replace(",", "")
    if not raw:
        if required:
            raise _RowError(name, "empty")
        return Decimal("0.00")
    try:
        value = Decimal(raw).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise _RowError(name, f"{raw!r} is not an amount") from None
    if not value.is_finite():
        raise _RowError(name, f"{raw!r} is not an amount")
    if value < 0:
        raise _RowError(name, f"{raw} is negative")
    if value > MAX_AMOUNT:
        raise _RowError(name, f"{raw} is more than {MAX_AMOUNT:,} (the largest amount kept)")
    return value


def _order_facts(name: str, row: Row, cols: dict) -> OrderFacts:
    created = _value(row, cols, "Created at")
    placed_at = parse_time(created)
    if placed_at is None:
        raise _RowError(
            "Created at", f"{created!r} is not a date like 2026-09-03 10:15:00 -0400" if created else "empty"
        )
    cancelled_raw = _value(row, cols, "Cancelled at")
    cancelled_at = parse_time(cancelled_raw)
    if cancelled_raw and cancelled_at is None:
        raise _RowError("Cancelled at", f"{cancelled_raw!r} is not a date")
    financial = _value(row, cols, "Financial Status").lower()
    if financial and financial not in PAYMENT_STATE:
        raise _RowError("Financial Status", f"{financial!r} is not a Shopify financial status")
    fulfillment = _value(row, cols, "Fulfillment Status").lower()
    status = Order.Status.OPEN
    if cancelled_at:
        status = Order.Status.CANCELLED
    elif fulfillment == "fulfilled":
        status = Order.Status.FULFILLED
    country = _value(row, cols, "Shipping Country")
    return OrderFacts(
        channel=Channel.CSV,
        external_id=name,
        number=name,
        placed_at=placed_at,
        updated_at=None,
        status=status,
        cancelled_at=cancelled_at,
        payment_state=PAYMENT_STATE.get(financial, Order.PaymentState.PAID),
        currency=(_value(row, cols, "Currency") or "USD")[:3],
        subtotal=_money(row, cols, "Subtotal"),
        total=_money(row, cols, "Total"),
        shipping_method=_value(row, cols, "Shipping Method"),
        shipping_name=_value(row, cols, "Shipping Name"),
        shipping_city=_value(row, cols, "Shipping City"),
        shipping_region=_value(row, cols, "Shipping Province"),
        shipping_postal_code=_value(row, cols, "Shipping Zip").lstrip("'"),
        shipping_country=country if len(country) == 2 else "",
        customer=CustomerFacts(
            email=_value(row, cols, "Email"),
            name=_value(row, cols, "Billing Name") or _value(row, cols, "Shipping Name"),
            phone=_value(row, cols, "Phone") or _value(row, cols, "Billing Phone"),
        ),
    )


def _line_facts(position: int, row: Row, cols: dict) -> LineFacts:
    raw_quantity = _value(row, cols, "Lineitem quantity")
    try:
        quantity = int(raw_quantity)
    except ValueError:
        raise _RowError(
            "Lineitem quantity", f"{raw_quantity!r} is not a whole number" if raw_quantity else "empty"
        ) from None
    if quantity <= 0:
        raise _RowError("Lineitem quantity", f"{quantity} is not a positive quantity")
    if quantity > MAX_UNITS:
        raise _RowError("Lineitem quantity", f"{quantity} is more than {MAX_UNITS} units")
    sku, title = _value(row, cols, "Lineitem sku"), _value(row, cols, "Lineitem name")
    if not sku and not title:
        raise _RowError("Lineitem sku", "empty, and so is Lineitem name: the line names no product")
    return LineFacts(
        external_id=f"{position}",
        sku=sku,
        title=title or sku,
        quantity=quantity,
        unit_price=_money(row, cols, "Lineitem price", required=True),
        fulfilled=_value(row, cols, "Lineitem fulfillment status").lower() == "fulfilled",
    )
