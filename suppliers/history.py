"""Purchase history in and out: the CSV import the ETA model learns from, and a synthetic history.

CSV columns: ``supplier,sku,ordered_at,quoted_at,received_at`` (ISO dates or date-times; an
optional ``reference`` column names the purchase order). ``received_at`` may be empty for an
order still open. Each row is its own transaction: a bad row is reported with its line number,
its reason and its raw values, and the good rows around it still load. A row is identified by
its reference, or else by supplier + SKU + order time, so importing the same file twice
creates nothing new.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import DataError, transaction
from django.utils.text import slugify

from backorders.calendar import BusinessCalendar
from backorders.formats import csv_safe
from backorders.formats.csv_safe import unescape_cell
from backorders.intake.csv_import import MAX_UNITS, YEARS, ImportFileError, database_refusal
from backorders.models import Product

from .models import PurchaseOrder, PurchaseOrderLine, Supplier

COLUMNS = ["supplier", "sku", "ordered_at", "quoted_at", "received_at"]
ORDER_HOUR = time(9, 0)  # a date without a time: ordered in the morning, received in the afternoon
RECEIPT_HOUR = time(15, 0)
DEFAULT_QUANTITY = 20
REFERENCE_MAX = PurchaseOrder._meta.get_field("reference").max_length


class RowError(ValueError):
    pass


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "errors": self.errors}


def _moment(value: str, column: str, at: time, calendar: BusinessCalendar) -> datetime:
    value = value.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), at, tzinfo=calendar.tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"{column} is not an ISO date (YYYY-MM-DD): {value!r}") from None
    if moment.year not in YEARS:
        raise RowError(f"{column} is not a plausible date (year {moment.year}): {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=calendar.tz)
    return moment


def _day(value: str, column: str) -> date:
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise RowError(f"{column} is not an ISO date (YYYY-MM-DD): {value!r}") from None
    if day.year not in YEARS:
        raise RowError(f"{column} is not a plausible date (year {day.year}): {value!r}")
    return day


def _quantity(value: str) -> int:
    value = value.strip()
    if not value:
        return DEFAULT_QUANTITY
    try:
        quantity = int(value)
    except ValueError:
        raise RowError(f"quantity is not a whole number: {value!r}") from None
    if not 0 < quantity <= MAX_UNITS:
        raise RowError(f"quantity must be between 1 and {MAX_UNITS}: {value!r}")
    return quantity


def _supplier(name: str, create_missing: bool) -> Supplier:
    supplier = Supplier.objects.filter(code=name).first() or Supplier.objects.filter(name__iexact=name).first()
    if supplier:
        return supplier
    if not create_missing:
        raise RowError(f"unknown supplier {name!r} (give its code or name, or import with --create-missing)")
    return Supplier.objects.create(name=name, code=slugify(name)[:32] or hashlib.sha256(name.encode()).hexdigest()[:8])


def _product(sku: str, create_missing: bool) -> Product:
    product = Product.objects.filter(sku=sku).first()
    if product:
        return product
    if not create_missing:
        raise RowError(f"unknown SKU {sku!r}")
    return Product.objects.create(sku=sku, title=sku, created_from_unknown_sku=True, on_hand=0)


def _import_row(row: dict, *, create_missing: bool, calendar: BusinessCalendar) -> str:
    missing = [c for c in ["supplier", "sku", "ordered_at", "quoted_at"] if not (row.get(c) or "").strip()]
    if missing:
        raise RowError("missing " + ", ".join(missing))
    ordered_at = _moment(row["ordered_at"], "ordered_at", ORDER_HOUR, calendar)
    quoted = _day(row["quoted_at"], "quoted_at")
    received_raw = (row.get("received_at") or "").strip()
    received_at = _moment(received_raw, "received_at", RECEIPT_HOUR, calendar) if received_raw else None
    if quoted < calendar.local_date(ordered_at):
        raise RowError("quoted_at is before ordered_at")
    if received_at is not None and received_at < ordered_at:
        raise RowError("received_at is before ordered_at")
    supplier_name, sku = unescape_cell(row["supplier"].strip()), unescape_cell(row["sku"].strip())
    reference = (row.get("reference") or "").strip()
    if not reference:
        key = f"{supplier_name.lower()}|{sku}|{ordered_at.isoformat()}"
        reference = "HIST-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()
    if len(reference) > REFERENCE_MAX:
        raise RowError(f"reference is longer than {REFERENCE_MAX} characters")
    quantity = _quantity(row.get("quantity") or "")
    status = PurchaseOrder.Status.RECEIVED if received_at else PurchaseOrder.Status.SENT
    with transaction.atomic():
        supplier = _supplier(supplier_name, create_missing)
        product = _product(sku, create_missing)
        po = PurchaseOrder.objects.select_for_update().filter(reference=reference).first()
        if po is None:
            po = PurchaseOrder.objects.create(
                supplier=supplier,
                reference=reference,
                status=status,
                ordered_at=ordered_at,
                quoted_at=quoted,
                received_at=received_at,
                notes="Imported purchase history",
            )
            PurchaseOrderLine.objects.create(
                purchase_order=po,
                product=product,
                quantity=quantity,
                received_quantity=quantity if received_at else 0,
                unit_cost=product.cost or Decimal("0.00"),
            )
            return "created"
        if po.supplier_id != supplier.pk:
            raise RowError(f"reference {reference} already belongs to another supplier")
        if (po.ordered_at, po.quoted_at, po.received_at, po.status) == (ordered_at, quoted, received_at, status):
            return "unchanged"
        po.ordered_at, po.quoted_at, po.received_at, po.status = ordered_at, quoted, received_at, status
        po.save(update_fields=["ordered_at", "quoted_at", "received_at", "status"])
        return "updated"


def import_purchase_history(file_obj, *, create_missing: bool = False) -> ImportReport:
    """Load a purchase-history CSV (text or bytes file); returns counts and a per-row error report."""
    raw = file_obj.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return ImportReport(errors=[{"line": 0, "error": "the file is not UTF-8 text", "row": {}}])
    reader = csv.DictReader(io.StringIO(raw))
    header = [h.strip() for h in (reader.fieldnames or [])]
    absent = [c for c in COLUMNS if c not in header]
    if absent:
        return ImportReport(errors=[{"line": 1, "error": "missing columns: " + ", ".join(absent), "row": {}}])
    reader.fieldnames = header
    calendar = BusinessCalendar()
    report = ImportReport()
    for row in reader:
        try:
            outcome = _import_row(row, create_missing=create_missing, calendar=calendar)
        except (RowError, ValueError) as exc:
            report.errors.append({"line": reader.line_num, "error": str(exc), "row": dict(row)})
            continue
        except DataError as exc:  # a value the database refuses; the row's transaction wrote nothing
            report.errors.append({"line": reader.line_num, "error": database_refusal(exc), "row": dict(row)})
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def run_csv_rows(rows, report, progress) -> None:
    """``import_csv purchase-history FILE``: the same rows through the shared CSV importer's report.

    Unknown suppliers and SKUs are row errors here: the upload page is for history of what the
    store already sells (``import_purchase_history --create-missing`` loads a history wholesale).
    """
    if rows:
        absent = [c for c in COLUMNS if c not in rows[0][1]]
        if absent:
            raise ImportFileError("missing columns: " + ", ".join(absent))
    calendar = BusinessCalendar()
    for index, (number, row) in enumerate(rows, start=1):
        try:
            outcome = _import_row(row, create_missing=False, calendar=calendar)
        except (RowError, ValueError) as exc:
            report.error(number, "", str(exc))
        except DataError as exc:
            report.error(number, "", database_refusal(exc))
        else:
            report.counts[outcome] += 1
        progress(index)


# --------------------------------------------------------------------------- a synthetic history


@dataclass(frozen=True)
class Habit:
    """How one synthetic supplier's deliveries fall against its quotes, in business days."""

    supplier: str
    name: str
    mean_start: float  # mean lateness on the first order
    mean_end: float  # ... and on the last (a drift in between)
    spread: float  # standard deviation around the mean
    tail_chance: float = 0.0  # heavy tail: this share of orders is held up on top ...
    tail_mean: float = 0.0  # ... by an exponential delay of this mean
    orders: int | None = None  # a fixed number of orders (a sparse history); else ``per_supplier``


HABITS = [
    Habit("Punctual Pottery", "reliable", 0.0, 0.0, 0.6),
    Habit("Laggard Metalworks", "a week late", 5.0, 5.0, 1.2),
    Habit("Erratic Electrics", "heavy-tailed", 0.5, 0.5, 1.0, tail_chance=0.15, tail_mean=7.0),
    Habit("Eager Imports", "early", -3.0, -3.0, 1.0),
    Habit("Drifting Textiles", "drifting later over time", 0.0, 8.0, 1.0),
    Habit("Sparse Studio", "sparse (six orders)", 2.0, 2.0, 1.5, orders=6),
]


def _lateness(habit: Habit, k: int, count: int, rng: random.Random) -> int:
    mean = habit.mean_start + (habit.mean_end - habit.mean_start) * k / max(count - 1, 1)
    late = rng.gauss(mean, habit.spread)
    if habit.tail_chance and rng.random() < habit.tail_chance:
        late += rng.expovariate(1 / habit.tail_mean)
    return round(late)


def generate_history_rows(
    *,
    seed: int,
    per_supplier: int = 60,
    lead_days: tuple[int, int] = (10, 30),
    start: date = date(2025, 1, 6),
    calendar: BusinessCalendar | None = None,
) -> list[dict]:
    """Purchase orders from six suppliers of different habits (``HABITS``), about one a week
    each, deterministic per seed; the sparse supplier has six orders whatever ``per_supplier``.

    Quotes are ``lead_days`` business days out (two to six weeks by default, a manufacturer's
    restock); arrivals land on business days, never before the day after the order.
    """
    rng = random.Random(seed)
    calendar = calendar or BusinessCalendar()
    rows = []
    for index, habit in enumerate(HABITS):
        skus = [f"HIST-{index + 1}{letter}" for letter in "ABC"]
        ordered = start + timedelta(days=index)
        count = habit.orders or per_supplier
        gap = [5, 6, 7, 7, 8, 9] if habit.orders is None else [30, 45, 60]
        for k in range(count):
            ordered += timedelta(days=rng.choice(gap))
            while not calendar.is_business_day(ordered):
                ordered += timedelta(days=1)
            quoted = calendar.add_business_days(ordered, rng.randint(*lead_days))
            late = _lateness(habit, k, count, rng)
            if late >= 0:
                received = calendar.add_business_days(quoted, late)
            else:
                received = quoted
                for _ in range(-late):
                    received -= timedelta(days=1)
                    while not calendar.is_business_day(received):
                        received -= timedelta(days=1)
                received = max(received, ordered + timedelta(days=1))
            rows.append(
                {
                    "supplier": habit.supplier,
                    "sku": rng.choice(skus),
                    "ordered_at": ordered.isoformat(),
                    "quoted_at": quoted.isoformat(),
                    "received_at": received.isoformat(),
                }
            )
    rows.sort(key=lambda r: (r["ordered_at"], r["supplier"]))
    return rows


def write_history_csv(rows: list[dict], out) -> None:
    writer = csv_safe.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
