"""Orders from a CSV in Shopify's orders export format.

The export's header begins ``Name,Email,Financial Status,Paid at,Fulfillment Status,...`` (the
full list is ``SHOPIFY_ORDER_COLUMNS``). An order with several lines repeats ``Name`` on the
following rows with the order-level columns empty. Orders are kept on the CSV channel under
their ``Name``; importing the same file again changes nothing. An order already kept from a
live channel (a Shopify webhook) with the same number is left alone. An unknown SKU becomes a
product with zero stock, flagged in the report; the order is never dropped for it. A row with
a bad value rejects its whole order (reported per row): each order is written whole or not at all.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import DataError

from ..models import Channel, Order
from .common import MappingError
from .csv_import import (
    MAX_UNITS,
    ImportFileError,
    Progress,
    Report,
    Rows,
    column,
    database_refusal,
    parse_time,
    register,
)
from .orders import CustomerFacts, LineFacts, OrderFacts, upsert_order

SHOPIFY_ORDER_COLUMNS = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,"
    "Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,"
    "Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,Billing Address2,"
    "Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,"
    "Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,Payment Method,"
    "Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,Id,Tags,Risk Level,"
    "Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,"
    "Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,"
    "Payment ID,Payment Terms Name,Next Payment Due At,Payment References"
).split(",")

REQUIRED = ("Name", "Created at", "Lineitem quantity", "Lineitem price")

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

PROGRESS_EVERY = 100
MAX_AMOUNT = Decimal("9999999999.99")  # the money columns are numeric(12, 2)
NAME_MAX = Order._meta.get_field("number").max_length


class _RowError(Exception):
    def __init__(self, column: str, reason: str):
        super().__init__(reason)
        self.column, self.reason = column, reason


def import_orders(rows: Rows, report: Report, progress: Progress) -> None:
    header = rows[0][1].keys() if rows else []
    missing = [name for name in REQUIRED if rows and column(header, name) is None]
    if rows and column(header, "Lineitem sku") is None and column(header, "Lineitem name") is None:
        missing.append("Lineitem sku")
    if missing:
        raise ImportFileError("missing columns: " + ", ".join(missing) + " (expected Shopify's orders export)")
    groups: dict[str, list[tuple[int, dict]]] = {}
    for number, row in rows:
        name = row.get(column(row, "Name"), "")
        if not name:
            report.error(number, "Name", "empty: every row names its order")
            report.counts["skipped"] += 1
            continue
        if len(name) > NAME_MAX:
            report.error(number, "Name", f"longer than {NAME_MAX} characters; the order was not imported")
            report.counts["skipped"] += 1
            continue
        groups.setdefault(name, []).append((number, row))
    done = 0
    for name, group in groups.items():
        _import_order(name, group, report)
        done += len(group)
        if done // PROGRESS_EVERY != (done - len(group)) // PROGRESS_EVERY:
            progress(done)
    progress(len(rows))


def _import_order(name: str, group: list[tuple[int, dict]], report: Report) -> None:
    first_row, head = group[0]
    problems: list[tuple[int, str, str]] = []
    try:
        facts = _order_facts(name, head)
    except _RowError as exc:
        problems.append((first_row, exc.column, exc.reason))
        facts = None
    lines = []
    for position, (number, row) in enumerate(group, start=1):
        try:
            lines.append(_line_facts(name, position, row))
        except _RowError as exc:
            problems.append((number, exc.column, exc.reason))
    if problems or facts is None:
        for number, col, reason in problems:
            report.error(number, col, f"{reason}; order {name} was not imported")
        report.counts["skipped"] += 1
        return
    if Order.objects.filter(number=name).exclude(channel=Channel.CSV).exists():
        report.flag(first_row, "Name", f"order {name} is already kept from a live channel; left as it is")
        report.counts["skipped"] += 1
        return
    facts.lines = lines
    existed = Order.objects.filter(channel=Channel.CSV, external_id=name).exists()
    try:
        result = upsert_order(facts)
    except MappingError as exc:
        report.error(first_row, "Name", f"order {name} was not imported: {exc}")
        report.counts["skipped"] += 1
        return
    except DataError as exc:  # a value the database refuses; upsert_order's transaction wrote nothing
        report.error(first_row, "Name", f"order {name} was not imported: {database_refusal(exc)}")
        report.counts["skipped"] += 1
        return
    report.counts["updated" if existed else "created"] += 1
    for sku in result.unknown_skus:
        number = next((n for n, row in group if _value(row, "Lineitem sku") == sku), first_row)
        report.flag(number, "Lineitem sku", f"unknown SKU {sku}: added as a product with zero stock; please review")


def _value(row: dict, name: str) -> str:
    key = column(row, name)
    return row.get(key, "") if key else ""


def _money(row: dict, name: str, *, required: bool = False) -> Decimal:
    raw = _value(row, name).replace(",", "")
    if not raw:
        if required:
            raise _RowError(name, "empty")
        return Decimal("0.00")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    # Decimal reads NaN and Infinity without complaint, and comparing NaN raises: refuse them first
    if value is None or not value.is_finite():
        raise _RowError(name, f"{raw!r} is not an amount")
    if value < 0:
        raise _RowError(name, f"{raw} is negative")
    if value > MAX_AMOUNT:
        raise _RowError(name, f"{raw} is more than {MAX_AMOUNT:,} (the largest amount kept)")
    return value.quantize(Decimal("0.01"))


def _order_facts(name: str, row: dict) -> OrderFacts:
    created = _value(row, "Created at")
    placed_at = parse_time(created)
    if placed_at is None:
        raise _RowError(
            "Created at", f"{created!r} is not a date like 2026-09-03 10:15:00 -0400" if created else "empty"
        )
    cancelled_raw = _value(row, "Cancelled at")
    cancelled_at = parse_time(cancelled_raw)
    if cancelled_raw and cancelled_at is None:
        raise _RowError("Cancelled at", f"{cancelled_raw!r} is not a date")
    financial = _value(row, "Financial Status").lower()
    if financial and financial not in PAYMENT_STATE:
        raise _RowError("Financial Status", f"{financial!r} is not a Shopify financial status")
    fulfillment = _value(row, "Fulfillment Status").lower()
    status = Order.Status.OPEN
    if cancelled_at:
        status = Order.Status.CANCELLED
    elif fulfillment == "fulfilled":
        status = Order.Status.FULFILLED
    country = _value(row, "Shipping Country")
    return OrderFacts(
        channel=Channel.CSV,
        external_id=name,
        number=name,
        placed_at=placed_at,
        updated_at=None,
        status=status,
        cancelled_at=cancelled_at,
        payment_state=PAYMENT_STATE.get(financial, Order.PaymentState.PAID),
        currency=(_value(row, "Currency") or "USD")[:3],
        subtotal=_money(row, "Subtotal"),
        total=_money(row, "Total"),
        shipping_method=_value(row, "Shipping Method"),
        shipping_name=_value(row, "Shipping Name"),
        shipping_city=_value(row, "Shipping City"),
        shipping_region=_value(row, "Shipping Province"),
        shipping_postal_code=_value(row, "Shipping Zip").lstrip("'"),
        shipping_country=country if len(country) == 2 else "",
        customer=CustomerFacts(
            email=_value(row, "Email"),
            name=_value(row, "Billing Name") or _value(row, "Shipping Name"),
            phone=_value(row, "Phone") or _value(row, "Billing Phone"),
        ),
    )


def _line_facts(name: str, position: int, row: dict) -> LineFacts:
    raw_quantity = _value(row, "Lineitem quantity")
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
    sku, title = _value(row, "Lineitem sku"), _value(row, "Lineitem name")
    if not sku and not title:
        raise _RowError("Lineitem sku", "empty, and so is Lineitem name: the line names no product")
    return LineFacts(
        external_id=f"{position}",
        sku=sku,
        title=title or sku,
        quantity=quantity,
        unit_price=_money(row, "Lineitem price", required=True),
        fulfilled=_value(row, "Lineitem fulfillment status").lower() == "fulfilled",
    )


register(
    "orders",
    import_orders,
    label="Orders (Shopify orders export)",
    help="Shopify's orders export: one row per line item, Name repeated for each line of an order.",
)
