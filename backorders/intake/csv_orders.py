"""Orders from a CSV in Shopify's orders export format.

The export's header begins ``Name,Email,Financial Status,Paid at,Fulfillment Status,...`` (the
full list is ``SHOPIFY_ORDER_COLUMNS``). An order with several lines repeats ``Name`` on the
following rows with the order-level columns empty. Orders are kept on the CSV channel under
their ``Name``; importing the same file again changes nothing. An order already kept from a
live channel (a Shopify webhook) with the same number is left alone; a Shopify webhook that
delivers an imported order later adopts it (``one_order``), so either way it is one order. An unknown SKU becomes a
product with zero stock, flagged in the report; the order is never dropped for it. A row with
a bad value rejects its whole order (reported per row): each order is written whole or not at all.

Every row is read and checked before anything is written; then the good orders are written in
batches (``BATCH_ORDERS`` a transaction) with a fixed number of statements each, and their new
lines allocated at once (``backorders.allocation.reserve_lines``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import DataError, IntegrityError, transaction
from django.db.models.functions import Lower

from backorders.formats.phones import read_phone

from ..allocation import lock_products, reserve_lines
from ..bulk import InList, copy_new, paused_gc, update_rows
from ..models import Channel, Customer, Order, OrderLine, Product
from .common import MappingError
from .csv_import import (
    ImportFileError,
    Progress,
    Report,
    Row,
    Rows,
    column,
    database_refusal,
    register,
)
from .csv_order_rows import _line_facts, _order_facts, _RowError
from .import_lease import write_in_batches
from .line_products import placeholder_sku
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

BATCH_ORDERS = 10_000  # orders written per transaction; each order is whole in one of them
NAME_MAX = Order._meta.get_field("number").max_length

ORDER_COLUMNS = (
    "channel",
    "external_id",
    "number",
    "customer_id",
    "placed_at",
    "currency",
    "subtotal",
    "total",
    "status",
    "payment_state",
    "shipping_method",
    "shipping_name",
    "shipping_city",
    "shipping_region",
    "shipping_postal_code",
    "shipping_country",
    "cancelled_at",
)
LINE_COLUMNS = (
    "order_id",
    "product_id",
    "external_id",
    "sku",
    "title",
    "quantity",
    "allocated",
    "shipped",
    "unit_price",
    "state",
    "cancelled_at",
    "shipped_at",
)


@dataclass
class _Order:
    """An order whose rows all read well: its facts, and the row each line came from."""

    name: str
    first_row: int
    facts: OrderFacts
    rows: list[int]


def import_orders(rows: Rows, report: Report, progress: Progress) -> None:
    """Read and check every row first; then write the good orders in batches, set-based.

    Each batch is one transaction: its new orders, their lines, new customers and products go in
    with a few statements (``COPY`` on PostgreSQL), then the new lines are allocated at once.
    Orders already kept from an earlier import take the one-by-one path (``upsert_order``), which
    compares line by line.
    """
    with paused_gc():
        _import_orders(rows, report, progress)


def _import_orders(rows: Rows, report: Report, progress: Progress) -> None:
    header = rows[0][1].keys() if rows else []
    missing = [name for name in REQUIRED if rows and column(header, name) is None]
    if rows and column(header, "Lineitem sku") is None and column(header, "Lineitem name") is None:
        missing.append("Lineitem sku")
    if missing:
        raise ImportFileError("missing columns: " + ", ".join(missing) + " (expected Shopify's orders export)")
    if not rows:
        progress(0)
        return
    cols = {name: column(header, name) for name in SHOPIFY_ORDER_COLUMNS}
    name_col = cols["Name"]
    groups: dict[str, list[tuple[int, Row]]] = {}
    for number, row in rows:
        name = row.get(name_col, "")
        if not name:
            report.error(number, "Name", "empty: every row names its order")
            report.counts["skipped"] += 1
            continue
        if len(name) > NAME_MAX:
            report.error(number, "Name", f"longer than {NAME_MAX} characters; the order was not imported")
            report.counts["skipped"] += 1
            continue
        groups.setdefault(name, []).append((number, row))
    orders = [order for name, group in groups.items() if (order := _read_order(name, group, cols, report))]
    done = len(rows) - sum(len(order.rows) for order in orders)
    progress(done)
    # each batch commits with a checkpoint; a job resumed after its worker died skips the committed ones
    batches = [orders[start : start + BATCH_ORDERS] for start in range(0, len(orders), BATCH_ORDERS)]
    write_in_batches(batches, _write_batch, report, progress, done=done, size=lambda b: sum(len(o.rows) for o in b))
    report.entries.sort(key=lambda entry: entry["row"])


def _read_order(name: str, group: list[tuple[int, Row]], cols: dict, report: Report) -> _Order | None:
    first_row, head = group[0]
    problems: list[tuple[int, str, str]] = []
    try:
        facts = _order_facts(name, head, cols)
    except _RowError as exc:
        problems.append((first_row, exc.column, exc.reason))
        facts = None
    lines = []
    for position, (number, row) in enumerate(group, start=1):
        try:
            lines.append(_line_facts(position, row, cols))
        except _RowError as exc:
            problems.append((number, exc.column, exc.reason))
    if problems or facts is None:
        for number, col, reason in problems:
            report.error(number, col, f"{reason}; order {name} was not imported")
        report.counts["skipped"] += 1
        return None
    facts.lines = lines
    return _Order(name, first_row, facts, [number for number, _ in group])


# --------------------------------------------------------------------------- writing


def _write_batch(batch: list[_Order], report: Report) -> None:
    """Write one batch in one transaction; its report entries count only once it commits.

    A row that another writer (a second import of the same file, a webhook naming the same new
    customer) committed meanwhile makes the batch fail on a unique index: it is read again and
    written once more, finding that row this time. A value the database refuses sends the batch
    through the one-by-one path, where it rejects only its own order, with the database's reason.
    """
    for attempt in (1, 2):
        part = Report()
        try:
            with transaction.atomic():
                _write(batch, part)
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        except DataError:
            part = Report()
            for order in batch:
                _write_one(order, part)
        report.entries.extend(part.entries)
        report.counts.update(part.counts)
        return


def _write_one(order: _Order, report: Report) -> None:
    try:
        with transaction.atomic():
            _write([order], report, one_by_one=True)
    except DataError as exc:  # a value the database refuses; the order's transaction wrote nothing
        report.error(order.first_row, "Name", f"order {order.name} was not imported: {database_refusal(exc)}")
        report.counts["skipped"] += 1


def _write(batch: list[_Order], report: Report, *, one_by_one: bool = False) -> None:
    live = set(
        Order.objects.filter(InList("number", [order.name for order in batch]))
        .exclude(channel=Channel.CSV)
        .order_by()
        .values_list("number", flat=True)
    )
    imported = set(
        Order.objects.filter(InList("external_id", [order.facts.external_id for order in batch]), channel=Channel.CSV)
        .order_by()
        .values_list("external_id", flat=True)
    )
    new: list[_Order] = []
    for order in batch:
        if order.name in live:
            report.flag(
                order.first_row, "Name", f"order {order.name} is already kept from a live channel; left as it is"
            )
            report.counts["skipped"] += 1
        elif order.facts.external_id in imported or one_by_one:
            _update_order(order, report, existed=order.facts.external_id in imported)
        else:
            imported.add(order.facts.external_id)  # a later order with the same id updates this one
            new.append(order)
    if new:
        _insert_orders(new, report)


def _update_order(order: _Order, report: Report, *, existed: bool = True) -> None:
    try:
        result = upsert_order(order.facts)
    except MappingError as exc:
        report.error(order.first_row, "Name", f"order {order.name} was not imported: {exc}")
        report.counts["skipped"] += 1
        return
    report.counts["updated" if existed else "created"] += 1
    for sku in result.unknown_skus:
        _flag_unknown(order, sku, report)


def _flag_unknown(order: _Order, sku: str, report: Report) -> None:
    number = next((n for n, lf in zip(order.rows, order.facts.lines, strict=True) if lf.sku == sku), order.first_row)
    report.flag(number, "Lineitem sku", f"unknown SKU {sku}: added as a product with zero stock; please review")


def _insert_orders(new: list[_Order], report: Report) -> None:
    """New orders, whole, in a fixed number of statements; then their waiting lines are allocated."""
    products, created = _products(new)
    # products first, as every stock writer takes them: a webhook delivering one of these orders at
    # the same moment waits here, or makes this batch wait, instead of deadlocking on the order number
    lock_products(products.values())
    customers = _customers([order.facts.customer for order in new])
    order_rows = []
    for order in new:
        f = order.facts
        cancelled = f.status == Order.Status.CANCELLED
        email = f.customer.email.strip().lower() if f.customer else ""
        order_rows.append(
            (
                Channel.CSV,
                f.external_id,
                f.number,
                customers.get(email),
                f.placed_at,
                (f.currency or "USD")[:3].upper(),
                max(f.subtotal, Decimal("0.00")),
                max(f.total, Decimal("0.00")),
                f.status,
                f.payment_state,
                f.shipping_method[:128],
                f.shipping_name[:255],
                f.shipping_city[:128],
                f.shipping_region[:64],
                f.shipping_postal_code[:32],
                f.shipping_country[:2].upper(),
                (f.cancelled_at or f.placed_at) if cancelled else None,
            )
        )
    order_ids = copy_new(Order, ORDER_COLUMNS, order_rows)
    line_rows, waiting = [], []
    for order, order_id, row in zip(new, order_ids, order_rows, strict=True):
        f = order.facts
        cancelled, cancelled_at = f.status == Order.Status.CANCELLED, row[-1]
        for lf in f.lines:
            shipped = lf.quantity if lf.fulfilled and not cancelled else 0
            state = (
                OrderLine.State.CANCELLED
                if cancelled
                else OrderLine.State.SHIPPED
                if shipped
                else OrderLine.State.PENDING
            )
            product_id = products[_product_sku(lf)]
            line_rows.append(
                (
                    order_id,
                    product_id,
                    lf.external_id[:64],
                    lf.sku[:128],
                    lf.title[:255],
                    lf.quantity,
                    shipped,
                    shipped,
                    max(lf.unit_price, Decimal("0.00")),
                    state,
                    cancelled_at,
                    f.placed_at if shipped else None,
                )
            )
            waiting.append(state == OrderLine.State.PENDING and f.status == Order.Status.OPEN)
    line_ids = copy_new(OrderLine, LINE_COLUMNS, line_rows)
    pending = [(pk, row[1]) for pk, row, wait in zip(line_ids, line_rows, waiting, strict=True) if wait]
    reserve_lines([pk for pk, _ in pending], {product_id for _, product_id in pending})
    report.counts["created"] += len(new)
    flagged = set()
    for order in new:
        for lf in order.facts.lines:
            sku = _product_sku(lf)
            if sku in created and sku not in flagged:
                flagged.add(sku)
                _flag_unknown(order, sku, report)


def _product_sku(lf: LineFacts) -> str:
    return (lf.sku or placeholder_sku(Channel.CSV, lf))[:128]


def _products(new: list[_Order]) -> tuple[dict[str, int], set[str]]:
    """Every product the lines name, by SKU; unknown SKUs become zero-stock products, flagged."""
    first: dict[str, LineFacts] = {}
    for order in new:
        for lf in order.facts.lines:
            first.setdefault(_product_sku(lf), lf)
    found = dict(Product.objects.filter(InList("sku", list(first))).values_list("sku", "pk"))
    unknown = [sku for sku in first if sku not in found]
    ids = copy_new(
        Product,
        ("sku", "title", "price", "on_hand", "created_from_unknown_sku"),
        [
            (sku, (first[sku].title or sku)[:255], max(first[sku].unit_price, Decimal("0.00")), 0, True)
            for sku in unknown
        ],
    )
    found.update(zip(unknown, ids, strict=True))
    return found, set(unknown)


def _customers(facts: list[CustomerFacts | None]) -> dict[str, int]:
    """Customer ids by lower-cased email: found case-insensitively, made when new, names and phones kept current."""
    wanted: dict[str, dict] = {}
    for f in facts:
        email = f.email.strip() if f else ""
        if not email:
            continue
        row = wanted.setdefault(
            email.lower(), {"email": email[:254], "name": "", "phone": "", "phone_unreadable": False}
        )
        row["name"] = f.name[:255] or row["name"]  # the last order that names them, as one by one
        if f.phone.strip():  # in E.164, or kept as typed and flagged
            row["phone"], row["phone_unreadable"] = read_phone(f.phone)
    if not wanted:
        return {}
    found = {
        row["email_ci"]: row
        for row in Customer.objects.exclude(email="")
        .annotate(email_ci=Lower("email"))
        .filter(InList("email_ci", list(wanted)))
        .values("id", "email_ci", "name", "phone", "phone_unreadable")
    }
    changed = []
    for key, row in found.items():
        phone = wanted[key] if wanted[key]["phone"] else row
        new = {
            "name": wanted[key]["name"] or row["name"],
            "phone": phone["phone"],
            "phone_unreadable": phone["phone_unreadable"],
        }
        if any(new[name] != row[name] for name in new):
            changed.append({"id": row["id"], **new})
    update_rows(Customer, changed, ["name", "phone", "phone_unreadable"])
    unknown = [key for key in wanted if key not in found]
    ids = copy_new(
        Customer, ("email", "name", "phone", "phone_unreadable"), [tuple(wanted[key].values()) for key in unknown]
    )
    return {**{key: row["id"] for key, row in found.items()}, **dict(zip(unknown, ids, strict=True))}


register(
    "orders",
    import_orders,
    label="Orders (Shopify orders export)",
    help="Shopify's orders export: one row per line item, Name repeated for each line of an order.",
)
