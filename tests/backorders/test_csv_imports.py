"""CSV imports: Shopify's orders and inventory exports, tracking rows, the report, and the upload page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from backorders.intake.csv_import import IMPORTERS, importers, register, report_csv, run_job
from backorders.models import ImportJob, Order, OrderLine, Product, Shipment
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Shopify's orders export header, as the admin writes it
ORDERS_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,"
    "Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,"
    "Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,"
    "Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,Shipping Province,"
    "Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,Payment Method,Payment Reference,"
    "Refunded Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,Id,Tags,Risk Level,Source,"
    "Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,"
    "Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,"
    "Payment ID,Payment Terms Name,Next Payment Due At,Payment References"
).split(",")


def order_row(name, sku, quantity="1", price="24.00", **order_level) -> dict:
    return {
        "Name": name,
        "Lineitem quantity": quantity,
        "Lineitem name": f"Item {sku}",
        "Lineitem price": price,
        "Lineitem sku": sku,
        "Lineitem fulfillment status": "pending",
        **order_level,
    }


def first_row(name, sku, **kw) -> dict:
    return order_row(
        name,
        sku,
        **{
            "Email": "ada@example.com",
            "Financial Status": "paid",
            "Currency": "USD",
            "Subtotal": "48.00",
            "Total": "53.00",
            "Created at": "2026-09-03 10:15:00 -0400",
            "Shipping Name": "Ada L",
            "Shipping City": "Portland",
            "Shipping Zip": "97201",
            "Shipping Province": "OR",
            "Shipping Country": "US",
            "Id": "5123456789012345678",
            **kw,
        },
    )


def orders_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ORDERS_HEADER, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode()


def run(kind: str, content: bytes) -> ImportJob:
    return run_job(ImportJob.objects.create(kind=kind, filename=f"{kind}.csv", content=content))


# --------------------------------------------------------------------------- orders


def test_it_imports_multi_line_orders_from_shopifys_export():
    factories.ProductFactory(sku="MUG-RED", on_hand=1)
    factories.ProductFactory(sku="MUG-BLUE", on_hand=5)
    content = orders_csv(
        [
            first_row("#1001", "MUG-RED", quantity="2"),
            order_row("#1001", "MUG-BLUE"),
            first_row("#1002", "MUG-BLUE", **{"Email": "bo@example.com"}),
        ]
    )
    job = run("orders", content)
    assert job.status == ImportJob.Status.DONE and job.errors == []
    assert job.summary["created"] == 2 and job.total_rows == job.processed_rows == 3
    order = Order.objects.get(number="#1001")
    assert (order.channel, order.external_id) == ("csv", "#1001")
    assert order.placed_at == datetime(2026, 9, 3, 14, 15, tzinfo=UTC)
    assert order.customer.email == "ada@example.com" and order.shipping_region == "OR"
    red = order.lines.get(sku="MUG-RED")
    assert (red.quantity, red.allocated, red.state) == (2, 1, OrderLine.State.PARTIAL)
    assert order.lines.get(sku="MUG-BLUE").state == OrderLine.State.ALLOCATED


def test_it_changes_nothing_when_the_same_file_is_imported_again():
    factories.ProductFactory(sku="MUG-RED", on_hand=3)
    content = orders_csv([first_row("#1001", "MUG-RED"), order_row("#1001", "MUG-RED", quantity="2")])
    run("orders", content)
    job = run("orders", content)
    assert job.summary["updated"] == 1
    assert OrderLine.objects.count() == 2 and Product.objects.get().allocated == 3


def test_it_adds_an_unknown_sku_as_a_flagged_product_and_keeps_the_order():
    job = run("orders", orders_csv([first_row("#1001", "LAMP-9")]))
    product = Product.objects.get(sku="LAMP-9")
    assert product.created_from_unknown_sku and product.on_hand == 0
    assert Order.objects.get().lines.get().state == OrderLine.State.BACKORDERED
    assert job.errors == [
        {
            "row": 2,
            "column": "Lineitem sku",
            "level": "flag",
            "reason": "unknown SKU LAMP-9: added as a product with zero stock; please review",
        }
    ]


def test_it_reports_bad_rows_and_keeps_the_valid_orders_whole():
    factories.ProductFactory(sku="MUG-RED", on_hand=5)
    content = orders_csv(
        [
            first_row("#1001", "MUG-RED"),
            order_row("#1001", "MUG-RED", quantity="two"),  # spoils #1001: nothing of it is written
            first_row("#1002", "MUG-RED", **{"Created at": "someday"}),
            first_row("#1003", "MUG-RED"),
        ]
    )
    job = run("orders", content)
    assert list(Order.objects.values_list("number", flat=True)) == ["#1003"]
    assert [(e["row"], e["column"]) for e in job.errors] == [(3, "Lineitem quantity"), (4, "Created at")]
    assert "'two' is not a whole number; order #1001 was not imported" in job.errors[0]["reason"]
    assert job.summary == {"created": 1, "skipped": 2, "errors": 2, "flags": 0, "changed": True}
    assert Product.objects.get().allocated == 1


def test_it_fails_a_file_that_is_not_an_orders_export():
    job = run("orders", b"sku,on_hand\nMUG,1\n")
    assert job.status == ImportJob.Status.FAILED and "missing columns: Name, Created at" in job.error


def test_it_fails_a_file_that_is_not_utf8():
    job = run("orders", "Name,Created at\n#1,caf\xe9\n".encode("latin-1"))
    assert job.status == ImportJob.Status.FAILED and "not UTF-8" in job.error


def test_it_leaves_an_order_kept_from_shopify_alone():
    factories.OrderFactory(number="#1001", channel="shopify", channel_updated_at=datetime(2026, 9, 3, tzinfo=UTC))
    job = run("orders", orders_csv([first_row("#1001", "MUG-RED")]))
    assert Order.objects.count() == 1 and job.errors[0]["level"] == "flag"


def test_it_takes_a_cancelled_order_without_reserving_stock():
    factories.ProductFactory(sku="MUG-RED", on_hand=5)
    run("orders", orders_csv([first_row("#1001", "MUG-RED", **{"Cancelled at": "2026-09-04 08:00:00 -0400"})]))
    assert Order.objects.get().status == "cancelled"
    assert Product.objects.get().allocated == 0


def test_it_writes_new_orders_in_the_same_statements_for_ten_orders_or_three_hundred():
    factories.ProductFactory(sku="MUG-RED", on_hand=50)
    for n in range(3):
        factories.ProductFactory(sku=f"MUG-{n}", on_hand=0)

    def statements(count: int, start: int) -> int:
        rows = []
        for n in range(start, start + count):
            rows += [
                first_row(f"#{n}", "MUG-RED", **{"Email": f"c{n}@example.com"}),
                order_row(f"#{n}", f"MUG-{n % 3}"),
            ]
        with CaptureQueriesContext(connection) as queries:
            job = run("orders", orders_csv(rows))
        assert job.summary["created"] == count
        return len(queries.captured_queries)

    assert statements(10, 1000) == statements(300, 2000)
    assert Order.objects.count() == 310 and OrderLine.objects.count() == 620
    # first come, first served: the 50 red mugs went to the first 50 orders of the first file
    served = OrderLine.objects.filter(sku="MUG-RED", state=OrderLine.State.ALLOCATED).order_by("order__placed_at")
    assert served.count() == 50 and Product.objects.get(sku="MUG-RED").allocated == 50
    assert set(served.values_list("order__number", flat=True)) >= {f"#{n}" for n in range(1000, 1010)}


def test_one_file_adds_new_orders_and_updates_those_kept_from_an_earlier_import():
    factories.ProductFactory(sku="MUG-RED", on_hand=2)
    run("orders", orders_csv([first_row("#1001", "MUG-RED")]))
    job = run(
        "orders",
        orders_csv(
            [
                first_row("#1001", "MUG-RED", quantity="2"),
                first_row("#1002", "LAMP-9", **{"Email": "ADA@example.com", "Billing Name": "Ada Lovelace"}),
                first_row("#1003", "LAMP-9", **{"Email": "bo@example.com"}),
            ]
        ),
    )
    assert job.summary == {"updated": 1, "created": 2, "errors": 0, "flags": 1, "changed": True}
    assert Order.objects.get(number="#1001").lines.get().quantity == 2
    assert Product.objects.get(sku="MUG-RED").allocated == 2
    # an unknown SKU named by two orders becomes one product, flagged once, at its first row
    assert [(e["row"], e["level"]) for e in job.errors] == [(3, "flag")]
    assert Product.objects.filter(sku="LAMP-9", created_from_unknown_sku=True).count() == 1
    # the same customer whatever the case of their email; the name the later order gives is kept
    ada = Order.objects.get(number="#1002").customer
    assert ada == Order.objects.get(number="#1001").customer and ada.name == "Ada Lovelace"


def test_a_batch_the_database_refuses_is_written_one_order_at_a_time(monkeypatch):
    from django.db import DataError

    factories.ProductFactory(sku="MUG-RED", on_hand=5)

    def refused(new, report):
        raise DataError("value too long for type character varying(3)")

    # Every known bad value is caught while reading (a test cannot make the database refuse a
    # checked row): the batch writer is made to fail as a refusal would, to test the fallback.
    monkeypatch.setattr("backorders.intake.csv_orders._insert_orders", refused)
    job = run("orders", orders_csv([first_row("#1001", "MUG-RED"), first_row("#1002", "MUG-RED")]))
    assert job.summary["created"] == 2 and job.errors == []
    assert Product.objects.get().allocated == 2 and OrderLine.objects.filter(state="allocated").count() == 2


# --------------------------------------------------------------------------- inventory and tracking


def test_it_counts_stock_from_shopifys_inventory_export_across_locations():
    mug = factories.ProductFactory(sku="MUG-RED", on_hand=0)
    factories.OrderLineFactory(product=mug, quantity=2, state=OrderLine.State.BACKORDERED)
    content = (
        b"Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,"
        b"COO,Location,Incoming (not editable),Unavailable (not editable),Committed (not editable),"
        b"Available (not editable),On hand (current),On hand (new)\r\n"
        b"red-mug,Red mug,Title,Default Title,,,,,MUG-RED,,,Main,0,0,0,2,2,\r\n"
        b"red-mug,Red mug,Title,Default Title,,,,,MUG-RED,,,Annex,0,0,0,1,1,3\r\n"
        b"ghost,Ghost,Title,Default Title,,,,,GHOST-1,,,Main,0,0,0,1,1,\r\n"
    )
    job = run("inventory", content)
    mug.refresh_from_db()
    assert mug.on_hand == 5 and mug.allocated == 2  # 2 at Main + 3 (new) at Annex; the waiting line got its units
    assert job.errors == [
        {"row": 4, "column": "SKU", "level": "error", "reason": "unknown SKU GHOST-1: no product has it"}
    ]


def test_it_counts_stock_from_a_plain_sku_on_hand_file():
    factories.ProductFactory(sku="MUG-RED", on_hand=9)
    factories.ProductFactory(sku="MUG-BLUE", on_hand=9)
    job = run("inventory", b"sku,on_hand\nMUG-RED,4\nMUG-BLUE,-1\n")
    assert dict(Product.objects.values_list("sku", "on_hand")) == {"MUG-RED": 4, "MUG-BLUE": 9}
    assert job.errors[0]["row"] == 3 and "negative" in job.errors[0]["reason"]


def test_it_records_tracking_rows_and_adds_shipments():
    order = factories.OrderFactory(number="#1042")
    content = (
        b"order,carrier,tracking number,status,time\n"
        b"#1042,UPS,1Z999AA10123456784,Label created,2026-09-03 09:00:00 -0400\n"
        b"1042,UPS,1Z999AA10123456784,in transit,2026-09-04T12:00:00Z\n"
        b"1042,UPS,1Z999AA10123456784,in transit,2026-09-04T12:00:00Z\n"
        b"1042,UPS,1Z999AA10123456784,InTransit,2026-09-04T12:00:00Z\n"
        b"#1042,UPS,1Z999AA10123456784,beamed up,2026-09-05 08:00\n"
        b"#9999,UPS,1Z1,delivered,2026-09-05 08:00\n"
    )
    job = run("tracking", content)
    shipment = Shipment.objects.get(order=order)
    assert shipment.status == "in_transit" and shipment.first_scan_at == datetime(2026, 9, 4, 12, tzinfo=UTC)
    # the repeated row is one scan; the carrier's own word for it (another raw status) is kept beside it
    assert shipment.events.count() == 4
    assert [(e["row"], e["level"]) for e in job.errors] == [(6, "flag"), (7, "error")]
    assert job.summary["skipped"] == 1


# --------------------------------------------------------------------------- the report and the registry


def test_it_quotes_cells_a_spreadsheet_would_run_as_formulas():
    rows = list(
        csv.reader(
            io.StringIO(
                report_csv(
                    [
                        {"row": 2, "column": "Name", "level": "error", "reason": '=HYPERLINK("http://evil")'},
                        {"row": 3, "column": "+SUM(A1)", "level": "error", "reason": "-1 is negative"},
                        {"row": 4, "column": "@x", "level": "error", "reason": "\tcmd"},
                        {"row": 5, "column": "\rcol", "level": "flag", "reason": "fine"},
                    ]
                )
            )
        )
    )
    assert rows[1][3] == '\'=HYPERLINK("http://evil")'
    assert rows[2][1:] == ["'+SUM(A1)", "error", "'-1 is negative"]
    assert rows[3][1] == "'@x" and rows[3][3] == "'\tcmd" and rows[4][1] == "'\rcol"


def test_it_lets_other_kinds_register_an_importer():
    seen = []
    register("test-kind", lambda rows, report, progress: seen.extend(rows), label="A test kind")
    try:
        job = run("test-kind", b"po,sku\nPO-1,MUG\n")
        assert job.status == ImportJob.Status.DONE and seen == [(2, {"po": "PO-1", "sku": "MUG"})]
        assert "test-kind" in importers()
    finally:
        IMPORTERS.pop("test-kind")


def test_it_imports_from_the_command_line(tmp_path, capsys):
    factories.ProductFactory(sku="MUG-RED", on_hand=2)
    path = tmp_path / "stock.csv"
    path.write_text("sku,on_hand\nMUG-RED,7\nNOPE,1\n")
    report = tmp_path / "report.csv"
    call_command("import_csv", "inventory", str(path), "--report", str(report))
    assert Product.objects.get().on_hand == 7
    assert "1 updated" in capsys.readouterr().out
    assert "unknown SKU NOPE" in report.read_text()
    with pytest.raises(CommandError, match="Unknown kind"):
        call_command("import_csv", "recipes", str(path))


# --------------------------------------------------------------------------- the upload page


def test_it_lets_only_owner_and_support_import(client, outsider, support_client):
    assert support_client.get("/imports/").status_code == 200
    client.force_login(outsider)
    assert client.get("/imports/").status_code == 403


def test_it_queues_an_upload_and_shows_its_progress(owner_client, django_capture_on_commit_callbacks):
    from tests.backorders.intake_samples import queued

    upload = SimpleUploadedFile("stock.csv", b"sku,on_hand\nMUG-RED,7\n", content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/imports/", {"kind": "inventory", "file": upload})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
    assert [q.args() for q in queued("backorders.tasks.process_import")] == [(job.pk,)]
    page = owner_client.get(f"/imports/{job.pk}/")
    assert b'hx-trigger="every 1s"' in page.content
    polled = owner_client.get(f"/imports/{job.pk}/", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and b"<html" not in polled.content


def test_it_runs_an_upload_inline_when_the_queue_is_sync(owner_client, settings, django_capture_on_commit_callbacks):
    factories.ProductFactory(sku="MUG-RED", on_hand=1)
    upload = SimpleUploadedFile("stock.csv", b"sku,on_hand\nMUG-RED,7\n=cmd,-1\n", content_type="text/csv")
    with (
        override_settings(Q_CLUSTER={**settings.Q_CLUSTER, "sync": True}, INTAKE_FOLLOWUP_TASK=""),
        django_capture_on_commit_callbacks(execute=True),
    ):
        owner_client.post("/imports/", {"kind": "inventory", "file": upload})
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE and Product.objects.get().on_hand == 7
    polled = owner_client.get(f"/imports/{job.pk}/", headers={"HX-Request": "true"})
    assert polled.status_code == 286  # htmx stops polling
    report = owner_client.get(f"/imports/{job.pk}/report.csv")
    assert report["Content-Disposition"] == f'attachment; filename="import-{job.pk}-report.csv"'
    assert "3,on_hand,error,'-1 is negative; =cmd left unchanged" in report.content.decode()


def test_it_refuses_an_empty_upload(owner_client):
    upload = SimpleUploadedFile("empty.csv", b"", content_type="text/csv")
    response = owner_client.post("/imports/", {"kind": "orders", "file": upload})
    assert response.status_code == 400 and b"The submitted file is empty" in response.content
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("jobs", [1, 12])
def test_it_lists_imports_in_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries, jobs):
    for _ in range(jobs):
        ImportJob.objects.create(kind="orders", filename="orders.csv", content=b"x", created_by=owner)
    # session, user, user's groups (role), the recent jobs with their uploader
    with django_assert_num_queries(4):
        assert owner_client.get("/imports/").status_code == 200


@pytest.mark.parametrize("problems", [1, 300])
def test_it_shows_an_import_in_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries, problems):
    errors = [{"row": n, "column": "SKU", "level": "error", "reason": "unknown"} for n in range(problems)]
    job = ImportJob.objects.create(kind="orders", content=b"x", status="done", errors=errors, created_by=owner)
    # session, user, user's groups (role), the job with its uploader
    with django_assert_num_queries(4):
        assert owner_client.get(f"/imports/{job.pk}/").status_code == 200
