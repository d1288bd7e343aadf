"""`import_csv purchase-history FILE` goes through the shared importer with its per-row report."""

from io import StringIO

import pytest
from django.core.management import call_command

from suppliers.models import PurchaseOrder
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_loads_purchase_history_through_import_csv_and_reports_bad_rows(tmp_path):
    supplier = factories.SupplierFactory(name="Northwind Ceramics")
    factories.ProductFactory(sku="MUG-RED")
    path = tmp_path / "history.csv"
    path.write_text(
        "supplier,sku,ordered_at,quoted_at,received_at\n"
        "Northwind Ceramics,MUG-RED,2026-03-02,2026-03-16,2026-03-18\n"
        "Northwind Ceramics,MUG-RED,2026-04-01,2026-03-20,\n"  # quoted before ordered
        "Nobody Ltd,MUG-RED,2026-05-01,2026-05-10,\n"
    )
    out = StringIO()
    call_command("import_csv", "purchase-history", str(path), stdout=out, stderr=out)
    po = PurchaseOrder.objects.get()
    assert po.supplier == supplier and po.received_at is not None
    text = out.getvalue()
    assert "quoted_at is before ordered_at" in text
    assert "Nobody Ltd" in text
    call_command("import_csv", "purchase-history", str(path), stdout=StringIO(), stderr=StringIO())
    assert PurchaseOrder.objects.count() == 1, "a second import changes nothing"
