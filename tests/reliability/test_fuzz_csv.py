"""Fuzzing every CSV importer with hypothesis: hostile cells in files of the documented shapes.

Each example writes a small file of a kind's documented shape (Shopify's orders export, an
inventory export, tracking rows, purchase history), puts hostile values into a few of its cells
(empty, negative, numbers past the database's integers, NaN and Infinity, impossible dates and
dates at the edge of the calendar, formulas, unicode, overlong text, embedded line breaks, NUL
bytes), sometimes drops a column, uploads it through the imports page as an owner would, and runs
the worker's task (``backorders.tasks.process_import``) on the job. Whatever the file:

- the upload answers a redirect, the job page and the report download answer 200: no 500;
- the task never raises: a file it cannot read as its kind fails with the reason, and writes nothing;
- every row the import left out has an error in the per-row report (row and reason);
- nothing is half-written: an order is kept with all of its rows' lines or not at all, a SKU with
  a bad row keeps its count, a scan or purchase order named in an error was not written;
- stock stays conserved, and importing the same file again changes nothing.

Each example runs in a savepoint that is rolled back, so examples do not see each other's rows.
``CSV_FUZZ_EXAMPLES`` (default 50) sets the examples per importer.
"""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict

import pytest
from django.db import transaction
from django.db.models import F, Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from backorders.intake.csv_orders import SHOPIFY_ORDER_COLUMNS
from backorders.models import Channel, ImportJob, Order, OrderLine, Product, Shipment, TrackingEvent
from backorders.tasks import process_import
from suppliers.models import PurchaseOrder, PurchaseOrderLine
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EXAMPLES = int(os.environ.get("CSV_FUZZ_EXAMPLES", "50"))

HOSTILE = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "-0", "1.5", "1e3", "1,000", "1_000", "0x1F", "٣", "007"]),
    st.sampled_from(["2147483647", "2147483648", "99999999999", "9" * 40, "-99999999999.99", "12345678901.99"]),
    st.sampled_from(["NaN", "sNaN", "Infinity", "-Infinity", "1e30", "0.001", "$24.00", "24,00"]),
    st.sampled_from(
        [
            "2026-02-30 10:00:00 -0400",
            "2026-09-03 25:61:00 -0400",
            "9999-12-31 23:59:59 -1400",
            "0001-01-01 00:00:00 +1400",
            "0001-01-01",
            "9999-12-31",
            "2026-09-03T10:15:00Z",
            "2026-09-03",
            "03/09/2026",
            "yesterday",
        ]
    ),
    st.sampled_from(
        [
            '=HYPERLINK("http://example.com","x")',
            "+1+1",
            "@SUM(A1)",
            "-2+3",
            "a\x00b",
            "\x00",
            "\u202egnp.exe",
            "🧦" * 20,
            "x" * 300,
            "y" * 5000,
            '"quoted"',
            "line\nbreak",
            "tab\there",
            "#1001",
            "paid",
            "fulfilled",
            "in transit",
            "delivered",
        ]
    ),
    st.text(max_size=24),
)


def csv_bytes(header: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def read_back(content: bytes) -> list[tuple[int, dict]]:
    """The rows as a spreadsheet numbers them (header is row 1), blank ones left out, values trimmed."""
    reader = csv.reader(io.StringIO(content.decode("utf-8", errors="replace"), newline=""))
    header = [h.strip() for h in next(reader)]
    rows = []
    for number, values in enumerate(reader, start=2):
        if any(v.strip() for v in values):
            rows.append((number, {h: v.strip() for h, v in zip(header, values, strict=False)}))
    return rows


def mutations(columns: list[str], max_rows: int):
    cell = st.tuples(st.integers(min_value=0, max_value=max_rows - 1), st.sampled_from(columns), HOSTILE)
    # now and then a column is missing too: the file as a whole is then refused with the reason
    dropped = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(columns))
    return st.tuples(st.lists(cell, min_size=1, max_size=5), dropped)


def apply(header: list[str], rows: list[dict], changes) -> tuple[list[str], list[dict]]:
    cells, dropped = changes
    rows = [dict(row) for row in rows]
    for index, name, value in cells:
        rows[index % len(rows)][name] = value
    if dropped is not None:
        header = [name for name in header if name != dropped]
    return header, rows


# --------------------------------------------------------------------------- running one file


class Figures:
    examples: dict[str, int] = defaultdict(int)
    outcomes: dict[str, int] = defaultdict(int)


def units_conserved() -> list[tuple[str, int, int, int]]:
    held = dict(
        OrderLine.objects.values("product_id")
        .annotate(held=Sum(F("allocated") - F("shipped")))
        .values_list("product_id", "held")
    )
    return [
        (p.sku, p.on_hand, p.allocated, held.get(p.pk, 0))
        for p in Product.objects.all()
        if p.allocated != held.get(p.pk, 0) or p.allocated > p.on_hand
    ]


def snapshot() -> tuple:
    return (
        sorted(Order.objects.values_list("channel", "external_id", "status", "total", "customer_id")),
        sorted(OrderLine.objects.values_list("order_id", "external_id", "quantity", "allocated", "state", "shipped")),
        sorted(Product.objects.values_list("sku", "on_hand", "allocated")),
        sorted(Shipment.objects.values_list("order_id", "tracking_number", "carrier")),
        sorted(TrackingEvent.objects.values_list("shipment_id", "status", "raw_status", "occurred_at")),
        sorted(PurchaseOrder.objects.values_list("reference", "status", "ordered_at", "quoted_at", "received_at")),
    )


def upload_and_run(client, kind: str, content: bytes) -> ImportJob:
    """Upload as the owner does, run the worker's task on the job, and read every page about it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(f"{kind}.csv", content, content_type="text/csv")
    response = client.post("/imports/", {"kind": kind, "file": upload})
    assert response.status_code == 302, (response.status_code, response.content[:500])
    job = ImportJob.objects.order_by("-pk").first()
    process_import(job.pk)  # raising here is the bug this test looks for
    job.refresh_from_db()
    for url in (f"/imports/{job.pk}/", f"/imports/{job.pk}/report.csv"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    assert job.status in {ImportJob.Status.DONE, ImportJob.Status.FAILED}, job.status
    return job


def check_report(job: ImportJob, rows: list[tuple[int, dict]]) -> dict[int, list[dict]]:
    """Every entry names a row of the file and says why; returns the errors by row."""
    numbers = {number for number, _ in rows}
    errors: dict[int, list[dict]] = defaultdict(list)
    for entry in job.errors:
        assert entry["level"] in {"error", "flag"}, entry
        assert entry["reason"].strip(), entry
        assert entry["row"] in numbers, (entry, sorted(numbers))
        if entry["level"] == "error":
            errors[entry["row"]].append(entry)
    return errors


def check_one(client, kind: str, content: bytes, check) -> None:
    with transaction.atomic():
        before = snapshot()
        job = upload_and_run(client, kind, content)
        rows = read_back(content)
        if job.status == ImportJob.Status.FAILED:
            # a file the importer cannot read as its kind: refused whole, with the reason, nothing written
            assert job.error.strip()
            assert snapshot() == before
            Figures.outcomes["files refused whole"] += 1
        else:
            errors = check_report(job, rows)
            check(rows, errors)
            assert units_conserved() == []
            Figures.outcomes["rows with an error"] += len(errors)
            Figures.outcomes["rows"] += len(rows)
            after = snapshot()
            again = upload_and_run(client, kind, content)
            assert snapshot() == after, "importing the same file again changed something"
            assert not again.summary.get("created"), again.summary
        Figures.examples[kind] += 1
        transaction.set_rollback(True)


def fuzz(client, kind: str, strategy, build, check) -> None:
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(changes=strategy)
    def run(changes):
        check_one(client, kind, build(changes), check)

    run()
    print(f"\nCSV fuzz, {kind}: {Figures.examples[kind]} files; totals so far {dict(Figures.outcomes)}")


@pytest.fixture(autouse=True)
def quiet_followup(settings):
    settings.INTAKE_FOLLOWUP_TASK = ""  # the sweep after an import is not what this test is about


# --------------------------------------------------------------------------- orders (Shopify's export)

ORDER_CELLS = [
    "Name",
    "Email",
    "Financial Status",
    "Fulfillment Status",
    "Currency",
    "Subtotal",
    "Total",
    "Created at",
    "Cancelled at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Lineitem fulfillment status",
    "Billing Name",
    "Shipping Name",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Phone",
]


def order_rows() -> list[dict]:
    rows = []
    for n, skus in enumerate([["FZ-A", "FZ-B"], ["FZ-A"], ["FZ-B", "FZ-C", "FZ-A"]]):  # 6 rows
        for k, sku in enumerate(skus):
            row = {
                "Name": f"#FZ{n}",
                "Lineitem quantity": str(1 + (n + k) % 3),
                "Lineitem name": f"Fuzz item {sku}",
                "Lineitem price": "24.00",
                "Lineitem sku": sku,
                "Lineitem fulfillment status": "pending",
            }
            if k == 0:
                row.update(
                    {
                        "Email": f"buyer{n}@example.com",
                        "Financial Status": "paid",
                        "Currency": "USD",
                        "Subtotal": "48.00",
                        "Total": "53.00",
                        "Created at": f"2026-09-0{n + 1} 10:15:00 -0400",
                        "Billing Name": "Ada Lovelace",
                        "Shipping Name": "Ada Lovelace",
                        "Shipping City": "Portland",
                        "Shipping Zip": "97201",
                        "Shipping Province": "OR",
                        "Shipping Country": "US",
                    }
                )
            rows.append(row)
    return rows


def build_orders(changes) -> bytes:
    header, rows = apply(list(SHOPIFY_ORDER_COLUMNS), order_rows(), changes)
    return csv_bytes(header, rows)


def check_orders(rows, errors) -> None:
    groups: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for number, row in rows:
        name = row.get("Name", "")
        if not name:
            assert errors[number], f"row {number} names no order and has no error"
            continue
        groups[name].append((number, row))
    kept = {o.external_id: o for o in Order.objects.filter(channel=Channel.CSV)}
    for name, group in groups.items():
        order = kept.pop(name, None)
        group_errors = [e for number, _ in group for e in errors.get(number, [])]
        if order is None:
            assert group_errors, f"order {name} was left out and no row says why"
            continue
        assert not group_errors, f"order {name} was kept although its rows have errors: {group_errors}"
        lines = sorted(order.lines.all(), key=lambda line: int(line.external_id))
        assert [line.quantity for line in lines] == [int(row["Lineitem quantity"]) for _, row in group], name
    assert not kept, f"orders kept that the file does not name: {sorted(kept)}"


def test_it_survives_hostile_rows_in_shopifys_orders_export(owner_client):
    factories.ProductFactory(sku="FZ-A", on_hand=3)
    factories.ProductFactory(sku="FZ-B", on_hand=0)
    fuzz(owner_client, "orders", mutations(ORDER_CELLS, 6), build_orders, check_orders)


# --------------------------------------------------------------------------- inventory

INVENTORY_HEADER = [
    "Handle",
    "Title",
    "Option1 Name",
    "Option1 Value",
    "SKU",
    "Location",
    "Available (not editable)",
    "On hand (current)",
    "On hand (new)",
]
INVENTORY_START = {"FZ-A": 5, "FZ-B": 0, "FZ-C": 7}


def inventory_rows() -> list[dict]:
    rows = []
    for sku, location, current, new in [
        ("FZ-A", "Main", "2", ""),
        ("FZ-A", "Annex", "1", "3"),
        ("FZ-B", "Main", "4", ""),
        ("FZ-C", "Main", "0", "9"),
    ]:
        rows.append(
            {
                "Handle": sku.lower(),
                "Title": f"Fuzz item {sku}",
                "Option1 Name": "Title",
                "Option1 Value": "Default Title",
                "SKU": sku,
                "Location": location,
                "Available (not editable)": current,
                "On hand (current)": current,
                "On hand (new)": new,
            }
        )
    return rows


def build_inventory(changes) -> bytes:
    header, rows = apply(INVENTORY_HEADER, inventory_rows(), changes)
    return csv_bytes(header, rows)


def check_inventory(rows, errors) -> None:
    by_sku: dict[str, list[int]] = defaultdict(list)
    for number, row in rows:
        sku = row.get("SKU", "")
        if not sku:
            assert errors[number], f"row {number} names no SKU and has no error"
            continue
        by_sku[sku].append(number)
    on_hand = dict(Product.objects.values_list("sku", "on_hand"))
    for sku, numbers in by_sku.items():
        if any(errors.get(number) for number in numbers):
            # a SKU with a bad row is left as it was (or was never a product)
            assert on_hand.get(sku) == INVENTORY_START.get(sku), (sku, on_hand.get(sku))
        else:
            assert sku in INVENTORY_START, f"unknown SKU {sku} has no error"
    for sku, start in INVENTORY_START.items():
        if sku not in by_sku:
            assert on_hand[sku] == start, f"{sku} is not in the file but changed"


def test_it_survives_hostile_rows_in_an_inventory_export(owner_client):
    for sku, start in INVENTORY_START.items():
        factories.ProductFactory(sku=sku, on_hand=start)
    # a waiting line, so a count that rises allocates and one that falls meets an allocation
    factories.OrderLineFactory(product=Product.objects.get(sku="FZ-B"), quantity=2, state=OrderLine.State.BACKORDERED)
    fuzz(owner_client, "inventory", mutations(INVENTORY_HEADER, 4), build_inventory, check_inventory)


# --------------------------------------------------------------------------- tracking

TRACKING_HEADER = ["order", "carrier", "tracking number", "status", "time"]


def tracking_rows() -> list[dict]:
    return [
        {"order": "#FZ1", "carrier": "UPS", "tracking number": "1Z999AA10123456784", "status": "Label created",
         "time": "2026-09-03 09:00:00 -0400"},
        {"order": "FZ1", "carrier": "UPS", "tracking number": "1Z999AA10123456784", "status": "in transit",
         "time": "2026-09-04T12:00:00Z"},
        {"order": "#FZ2", "carrier": "USPS", "tracking number": "9400 1000 0000 0000 0000 00", "status": "InTransit",
         "time": "2026-09-05 08:00"},
        {"order": "#FZ2", "carrier": "USPS", "tracking number": "9400100000000000000000", "status": "delivered",
         "time": "09/07/2026 14:30"},
    ]  # fmt: skip


def build_tracking(changes) -> bytes:
    header, rows = apply(TRACKING_HEADER, tracking_rows(), changes)
    return csv_bytes(header, rows)


def check_tracking(rows, errors) -> None:
    for number, row in rows:
        if errors.get(number):
            continue
        ref = row.get("order", "").lstrip("#")
        tracking = row.get("tracking number", "").replace(" ", "")
        shipment = Shipment.objects.filter(order__number__in=[ref, f"#{ref}"], tracking_number=tracking).first()
        assert shipment is not None, f"row {number} has no error and its scan was not kept: {row}"
        assert shipment.events.filter(raw_status=row.get("status", "")[:64]).exists(), (number, row)
    # a shipment is never written without its scan
    assert not Shipment.objects.filter(events__isnull=True).exists()


def test_it_survives_hostile_rows_in_a_tracking_file(owner_client):
    factories.OrderFactory(number="#FZ1")
    factories.OrderFactory(number="#FZ2")
    fuzz(owner_client, "tracking", mutations(TRACKING_HEADER, 4), build_tracking, check_tracking)


# --------------------------------------------------------------------------- purchase history

HISTORY_HEADER = ["supplier", "sku", "ordered_at", "quoted_at", "received_at", "reference", "quantity"]


def history_rows() -> list[dict]:
    return [
        {"supplier": "fz-sup", "sku": "FZ-A", "ordered_at": "2026-03-02", "quoted_at": "2026-03-16",
         "received_at": "2026-03-18", "reference": "PO-FZ-1", "quantity": "20"},
        {"supplier": "Fuzz Supply Co", "sku": "FZ-B", "ordered_at": "2026-03-09T09:00:00-05:00",
         "quoted_at": "2026-03-30", "received_at": "", "reference": "PO-FZ-2", "quantity": "5"},
        {"supplier": "fz-sup", "sku": "FZ-A", "ordered_at": "2026-04-01", "quoted_at": "2026-04-20",
         "received_at": "2026-04-21 15:00", "reference": "PO-FZ-3", "quantity": ""},
    ]  # fmt: skip


def build_history(changes) -> bytes:
    header, rows = apply(HISTORY_HEADER, history_rows(), changes)
    return csv_bytes(header, rows)


def every_purchase_order_has_its_line() -> bool:
    return PurchaseOrder.objects.count() == PurchaseOrderLine.objects.values("purchase_order").distinct().count()


def check_history(rows, errors) -> None:
    references = defaultdict(list)
    for number, row in rows:
        references[row.get("reference", "")].append(number)
    for number, row in rows:
        reference = row.get("reference", "")
        if errors.get(number) or not reference or len(references[reference]) > 1:
            continue
        assert PurchaseOrder.objects.filter(reference=reference).exists(), f"row {number} has no error, no PO: {row}"
    for reference, numbers in references.items():
        if reference and all(errors.get(number) for number in numbers):
            assert not PurchaseOrder.objects.filter(reference=reference).exists(), reference
    assert every_purchase_order_has_its_line()


def test_it_survives_hostile_rows_in_a_purchase_history(owner_client):
    factories.SupplierFactory(name="Fuzz Supply Co", code="fz-sup")
    factories.ProductFactory(sku="FZ-A")
    factories.ProductFactory(sku="FZ-B")
    fuzz(owner_client, "purchase-history", mutations(HISTORY_HEADER, 3), build_history, check_history)


def test_it_survives_hostile_rows_in_a_wholesale_purchase_history_load():
    """``import_purchase_history --create-missing``: unknown suppliers and SKUs are created, so hostile
    names reach the database; each row is loaded or reported with its line, never half-written."""
    from suppliers.history import import_purchase_history

    factories.SupplierFactory(name="Fuzz Supply Co", code="fz-sup")

    @hypothesis_settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(changes=mutations(HISTORY_HEADER, 3))
    def run(changes):
        content = build_history(changes)
        with transaction.atomic():
            report = import_purchase_history(io.BytesIO(content), create_missing=True)  # never raises
            rows = read_back(content)
            assert all(error["error"].strip() for error in report.errors)
            if report.errors and report.errors[0]["line"] in {0, 1}:
                assert PurchaseOrder.objects.count() == 0  # the file was refused whole
            else:
                assert report.created + report.updated + report.unchanged + len(report.errors) == len(rows)
            assert every_purchase_order_has_its_line()
            Figures.examples["purchase-history --create-missing"] += 1
            transaction.set_rollback(True)

    run()


SHAPES = {
    "orders": (SHOPIFY_ORDER_COLUMNS, order_rows),
    "inventory": (INVENTORY_HEADER, inventory_rows),
    "tracking": (TRACKING_HEADER, tracking_rows),
    "purchase-history": (HISTORY_HEADER, history_rows),
}


@pytest.mark.parametrize(
    ("kind", "index", "cells", "row", "reason"),
    [
        # found by the fuzzer: each of these once stopped the import with a database error or a crash,
        # or was cut short and kept as another value
        ("orders", 0, {"Subtotal": "99999999999"}, 2, "is more than 9,999,999,999.99"),
        ("orders", 3, {"Created at": "2026-02-30 10:00"}, 5, "is not a date"),
        ("orders", 0, {"Subtotal": "NaN"}, 2, "is not an amount"),
        ("orders", 0, {"Total": "-Infinity"}, 2, "is not an amount"),
        ("orders", 2, {"Lineitem quantity": "2147483648"}, 4, "is more than 2147483647 units"),
        ("orders", 2, {"Name": "#" + "9" * 64}, 4, "longer than 64 characters"),
        ("inventory", 0, {"On hand (current)": "2147483647"}, 3, "adds up to more than 2147483647"),
        ("tracking", 1, {"time": "9999-12-31 23:59:59 -1400"}, 3, "is not a date"),
        ("tracking", 1, {"time": "0001-01-01 00:00:00 +1400"}, 3, "is not a date"),
        ("tracking", 0, {"tracking number": "x" * 300}, 2, "longer than 128 characters"),
        ("purchase-history", 1, {"quantity": "0"}, 3, "quantity must be between 1 and"),
        ("purchase-history", 1, {"reference": "PO-" + "1" * 70}, 3, "reference is longer than 64"),
        ("purchase-history", 1, {"ordered_at": "0001-01-01T00:00:00+14:00"}, 3, "not a plausible date"),
    ],
)
def test_it_reports_what_the_fuzzer_found_on_its_row(owner_client, kind, index, cells, row, reason):
    for sku in ("FZ-A", "FZ-B", "FZ-C"):
        factories.ProductFactory(sku=sku, on_hand=1)
    if kind == "tracking":
        factories.OrderFactory(number="#FZ1")
        factories.OrderFactory(number="#FZ2")
    factories.SupplierFactory(name="Fuzz Supply Co", code="fz-sup")
    header, make_rows = SHAPES[kind]
    rows = make_rows()
    rows[index].update(cells)
    job = upload_and_run(owner_client, kind, csv_bytes(list(header), rows))
    assert job.status == ImportJob.Status.DONE
    [error] = [entry for entry in job.errors if entry["level"] == "error"]
    assert error["row"] == row and reason in error["reason"], error
    assert job.summary.get("created", 0) + job.summary.get("updated", 0) > 0  # the other rows went in


def test_it_refuses_a_file_with_nul_bytes_as_not_text(owner_client):
    content = "sku,on_hand\nFZ-A,4\n".encode("utf-16-le")  # UTF-16 without a byte-order mark decodes as UTF-8
    job = upload_and_run(owner_client, "inventory", content)
    assert job.status == ImportJob.Status.FAILED
    assert job.error == "line 1 holds a NUL byte, which no text CSV has (a UTF-16 file does); export it as CSV UTF-8"
