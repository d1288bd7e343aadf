"""Purchase-history import: per-row errors, one transaction per row, idempotent re-imports."""

import io
from collections import Counter
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from suppliers.history import generate_history_rows, import_purchase_history
from suppliers.models import PurchaseOrder, PurchaseOrderLine, Supplier
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = "supplier,sku,ordered_at,quoted_at,received_at\n"


@pytest.fixture
def catalog():
    supplier = factories.SupplierFactory(name="Northwind Ceramics", code="northwind")
    product = factories.ProductFactory(sku="MUG-RED")
    return supplier, product


def test_it_loads_good_rows_and_reports_each_bad_one(catalog):
    csv = (
        HEADER + "northwind,MUG-RED,2026-01-05,2026-01-19,2026-01-21\n"
        "Northwind Ceramics,MUG-RED,2026-01-12,2026-01-26,\n"
        "northwind,MUG-RED,05/01/2026,2026-01-19,2026-01-21\n"
        "nobody,MUG-RED,2026-01-05,2026-01-19,2026-01-21\n"
        "northwind,NO-SUCH-SKU,2026-01-05,2026-01-19,2026-01-21\n"
        "northwind,MUG-RED,2026-01-05,2026-01-02,2026-01-21\n"
        "northwind,MUG-RED,2026-02-05,2026-02-19,2026-01-21\n"
        "northwind,,2026-01-05,2026-01-19,2026-01-21\n"
    )
    report = import_purchase_history(io.StringIO(csv))
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert [(e["line"], e["error"]) for e in report.errors] == [
        (4, "ordered_at is not an ISO date (YYYY-MM-DD): '05/01/2026'"),
        (5, "unknown supplier 'nobody' (give its code or name, or import with --create-missing)"),
        (6, "unknown SKU 'NO-SUCH-SKU'"),
        (7, "quoted_at is before ordered_at"),
        (8, "received_at is before ordered_at"),
        (9, "missing sku"),
    ]
    assert report.errors[1]["row"]["supplier"] == "nobody"  # kept for replay
    received, open_po = PurchaseOrder.objects.order_by("ordered_at")
    assert received.status == "received" and received.quoted_at == date(2026, 1, 19)
    assert open_po.status == "sent" and open_po.received_at is None
    assert PurchaseOrderLine.objects.filter(product=catalog[1]).count() == 2


def test_it_creates_nothing_new_when_the_same_file_is_imported_again(catalog):
    csv = HEADER + "northwind,MUG-RED,2026-01-05,2026-01-19,2026-01-21\n"
    import_purchase_history(io.StringIO(csv))
    again = import_purchase_history(io.BytesIO(csv.encode()))
    assert (again.created, again.unchanged) == (0, 1)
    assert PurchaseOrder.objects.count() == 1 and PurchaseOrderLine.objects.count() == 1


def test_it_updates_an_order_whose_receipt_arrived_since(catalog):
    import_purchase_history(io.StringIO(HEADER + "northwind,MUG-RED,2026-01-05,2026-01-19,\n"))
    report = import_purchase_history(io.StringIO(HEADER + "northwind,MUG-RED,2026-01-05,2026-01-19,2026-01-23\n"))
    assert report.updated == 1
    po = PurchaseOrder.objects.get()
    assert po.status == "received" and po.received_at.date() >= date(2026, 1, 23)


def test_it_leaves_no_half_written_row_when_a_row_fails_midway(catalog):
    factories.PurchaseOrderFactory(reference="PO-TAKEN", supplier=factories.SupplierFactory(code="other"))
    csv = "supplier,sku,ordered_at,quoted_at,received_at,reference\nnorthwind,MUG-RED,2026-01-05,2026-01-19,,PO-TAKEN\n"
    report = import_purchase_history(io.StringIO(csv), create_missing=True)
    assert report.errors[0]["error"] == "reference PO-TAKEN already belongs to another supplier"
    assert PurchaseOrderLine.objects.count() == 0


def test_it_rejects_a_file_without_the_columns():
    report = import_purchase_history(io.StringIO("supplier,sku\nnorthwind,MUG-RED\n"))
    assert report.errors == [{"line": 1, "error": "missing columns: ordered_at, quoted_at, received_at", "row": {}}]


def test_it_creates_missing_suppliers_and_skus_only_when_asked():
    csv = HEADER + "Punctual Pottery,HIST-1A,2026-01-05,2026-01-19,2026-01-21\n"
    assert import_purchase_history(io.StringIO(csv)).errors
    assert import_purchase_history(io.StringIO(csv), create_missing=True).created == 1
    assert Supplier.objects.get(name="Punctual Pottery").code == "punctual-pottery"


def test_the_command_reports_rejected_rows_and_fails(tmp_path, catalog):
    path = tmp_path / "h.csv"
    path.write_text(HEADER + "northwind,MUG-RED,2026-01-05,2026-01-19,2026-01-21\nnobody,MUG-RED,2026-01-05,,\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 row"):
        call_command("import_purchase_history", str(path), stdout=out)
    assert "1 created" in out.getvalue() and "line 3: missing quoted_at" in out.getvalue()


def test_it_generates_six_suppliers_of_different_habits_deterministically(tmp_path):
    rows = generate_history_rows(seed=11)
    counts = Counter(r["supplier"] for r in rows)
    assert len(rows) == 306 and len(counts) == 6 and sorted(counts.values()) == [6, 60, 60, 60, 60, 60]
    assert rows == generate_history_rows(seed=11) != generate_history_rows(seed=12)
    out = tmp_path / "gen.csv"
    call_command("generate_purchase_history", "--out", str(out), "--seed", "11", stderr=io.StringIO())
    assert out.read_text().splitlines()[0] == "supplier,sku,ordered_at,quoted_at,received_at"
    assert len(out.read_text().splitlines()) == 307
