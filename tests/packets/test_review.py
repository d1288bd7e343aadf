"""The weekly review: stockouts with outcomes, stale tracking, pauses, wording, suppliers, and its PDF."""

import io
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from packets.models import Case, Decision, Outcome
from packets.review import build_weekly_review
from suppliers.models import PurchaseOrder, SupplierUpdate
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 6, 17, tzinfo=UTC)  # a Friday


def short_product(supplier, *, sku, waiting=2, wording="In stock, ships in 1–2 business days.", **fields):
    product = factories.ProductFactory(sku=sku, on_hand=0, product_page_wording=wording, **fields)
    factories.SupplierSourceFactory(supplier=supplier, product=product)
    line = factories.OrderLineFactory(
        product=product, quantity=waiting, state="backordered", order__shipping_region="OR", order__placed_at=NOW
    )
    return product, line


def stale_dropship(supplier, *, region="TX", days=10):
    order = factories.OrderFactory(shipping_region=region, shipping_country="US")
    factories.OrderLineFactory(
        order=order, product=factories.ProductFactory(sku=f"DS-{order.pk}"), state="shipped", allocated=1, shipped=1
    )
    return factories.ShipmentFactory(
        order=order,
        shipped_by="supplier",
        supplier_name=supplier.name,
        status="label_created",
        label_created_at=NOW - timedelta(days=days),
    )


@pytest.fixture
def world(owner):
    """Two suppliers' worth of trouble."""
    harbor = factories.SupplierFactory(name="Harbor Textiles")
    copper = factories.SupplierFactory(name="Copperline Goods")
    throw, _ = short_product(harbor, sku="THROW-RUST", variant_title="Rust", waiting=3)
    kettle, kettle_line = short_product(copper, sku="KETTLE-2L", variant_title="2 L", waiting=5)
    for days in (30, 10):
        factories.SupplierUpdateFactory(supplier=copper, product=kettle, received_at=NOW - timedelta(days=days))
    factories.SupplierUpdateFactory(
        supplier=harbor,
        product=throw,
        kind=SupplierUpdate.Kind.RESTOCK_ESTIMATE,
        restock_from=NOW.date() + timedelta(days=10),
        restock_to=NOW.date() + timedelta(days=20),
        strength=SupplierUpdate.Strength.WEAK,
        received_at=NOW - timedelta(days=2),
    )
    case = factories.CaseFactory(kind=Case.Kind.BACKORDER, order=kettle_line.order, opened_at=NOW - timedelta(days=3))
    decision = factories.DecisionFactory(case=case, action=Decision.Action.CHASE_SUPPLIER, decided_by=owner)
    Outcome.objects.create(case=case, decision=decision, kind=Outcome.Kind.SUPPLIER_CHASED, recorded_by=owner)
    stale_dropship(copper)
    for i in range(3):
        late = factories.PurchaseOrderFactory(
            supplier=copper,
            status=PurchaseOrder.Status.RECEIVED,
            ordered_at=NOW - timedelta(days=60 + i),
            quoted_at=(NOW - timedelta(days=40 + i)).date(),
            received_at=NOW - timedelta(days=25 + i),
        )
        assert late.received_at > late.ordered_at
    return {"harbor": harbor, "copper": copper, "throw": throw, "kettle": kettle}


@time_machine.travel(NOW, tick=False)
def test_it_lists_stockouts_by_supplier_with_the_outcome_so_far(world):
    review = build_weekly_review()
    rows = {row.product.sku: row for row in review["stockouts"]}
    assert [r.supplier for r in review["stockouts"]] == ["Copperline Goods", "Harbor Textiles"]
    kettle = rows["KETTLE-2L"]
    assert (kettle.waiting_units, kettle.waiting_orders, kettle.outcome) == (5, 1, "Supplier chased")
    assert kettle.product.variant_title == "2 L"
    assert rows["THROW-RUST"].outcome == "No case yet" and rows["THROW-RUST"].evidence.strength == "weak"


@time_machine.travel(NOW, tick=False)
def test_it_falls_back_to_the_latest_decision_then_the_case_status(world, owner):
    Outcome.objects.all().delete()
    assert build_weekly_review()["stockouts"][0].outcome == "Decision: chase supplier (proposed)"
    Decision.objects.all().delete()
    assert build_weekly_review()["stockouts"][0].outcome == "Case open, no outcome yet"


@time_machine.travel(NOW, tick=False)
def test_it_groups_stale_tracking_by_supplier_sku_and_region(world):
    factories.ShipmentFactory(
        order=factories.OrderFactory(shipping_region="OR", shipping_country="US"),
        status="in_transit",
        label_created_at=NOW - timedelta(days=12),
        first_scan_at=NOW - timedelta(days=11),
        last_scan_at=NOW - timedelta(days=10),
    )
    factories.ShipmentFactory(status="in_transit", last_scan_at=NOW - timedelta(hours=5))  # moving: not stale
    review = build_weekly_review()
    assert dict(review["stale_by_supplier"]) == {"Copperline Goods": 1, "Store": 1}
    assert dict(review["stale_by_region"]) == {"TX, US": 1, "OR, US": 1}
    assert next(sku for sku, _ in review["stale_by_sku"]).startswith("DS-")
    reasons = sorted(row.reason for row in review["stale"])
    assert reasons == ["no carrier pickup for 8 business days", "no scan for 8 business days"]


@time_machine.travel(NOW, tick=False)
def test_it_names_products_to_pause_and_wording_to_change(world):
    review = build_weekly_review()
    pause = {row["product"].sku: row["reasons"] for row in review["to_pause"]}
    assert pause["KETTLE-2L"][0] == "2 out-of-stock reports in 90 days"
    assert "5 units waiting, 0 free and none on order" in pause["KETTLE-2L"]
    wording = {row["product"].sku: row for row in review["wording"]}
    assert wording["THROW-RUST"]["current"] == "In stock, ships in 1–2 business days."
    assert wording["THROW-RUST"]["suggested"].startswith("Backordered: ships ")
    assert wording["KETTLE-2L"]["suggested"].startswith("Backordered: our supplier has not confirmed a date")


@time_machine.travel(NOW, tick=False)
def test_it_leaves_honest_wording_alone(world):
    world["throw"].product_page_wording = "Backordered: ships in about three weeks."
    world["throw"].save()
    assert "THROW-RUST" not in {row["product"].sku for row in build_weekly_review()["wording"]}


@time_machine.travel(NOW, tick=False)
def test_it_suggests_deprioritising_a_low_scoring_supplier(world):
    names = [card.supplier.name for card in build_weekly_review()["deprioritise"]]
    assert names == ["Copperline Goods"]


@pytest.mark.parametrize("url", ["/review/weekly/", "/review/weekly/pdf/"])
def test_it_keeps_the_review_from_people_without_a_role(client, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("copies", [1, 4])
@time_machine.travel(NOW, tick=False)
def test_it_renders_the_review_page_in_a_fixed_number_of_queries(
    world, support_client, django_assert_num_queries, copies
):
    for n in range(copies - 1):
        supplier = factories.SupplierFactory()
        short_product(supplier, sku=f"EXTRA-{n}")
        stale_dropship(supplier, region=f"R{n}")
    factories.PurchaseOrderLineFactory(purchase_order__supplier=world["copper"], purchase_order__status="proposed")
    # session, user, groups, policy (4); waiting demand, recent updates, stock case products, products,
    # sources, latest updates (6); cases by product, cases by order line, outcomes, decisions, case
    # statuses (5); stale shipments, their order lines, the lines' products (3); ETA: sources, open PO
    # lines, updates, history (4); active suppliers, scorecards: purchase orders, updates, shipments (4);
    # proposals, their lines, the lines' products (3); orders awaiting the supplier's confirmation (1);
    # customer replies: messages received, deadlines missed, backordered orders, those cancelled (4;
    # answers are read only when someone wrote)
    with django_assert_num_queries(34):
        response = support_client.get(reverse("packets:review-weekly"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Copperline Goods" in body and "Supplier chased" in body and body.count("<svg") >= 4
    assert "the owner approves" in body  # support sees the proposal but not the button


@time_machine.travel(NOW, tick=False)
def test_the_owner_sees_the_approve_button(world, owner_client):
    factories.PurchaseOrderLineFactory(purchase_order__supplier=world["copper"], purchase_order__status="proposed")
    assert b"Approve</button>" in owner_client.get(reverse("packets:review-weekly")).content


@time_machine.travel(NOW, tick=False)
def test_it_downloads_the_review_as_pdf(world, owner_client, tmp_path):
    response = owner_client.get(reverse("packets:review-weekly-pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    path = tmp_path / "review.pdf"
    path.write_bytes(response.content)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    text = " ".join(text.split())
    assert "Weekly review" in text and "KETTLE-2L" in text and "Supplier chased" in text


@time_machine.travel(NOW, tick=False)
def test_the_command_prints_headlines_or_writes_a_pdf(world, tmp_path):
    out = io.StringIO()
    call_command("weekly_review", stdout=out)
    assert "Copperline Goods: KETTLE-2L, 5 units waiting; Supplier chased" in out.getvalue()
    assert "suppliers to deprioritise: Copperline Goods" in out.getvalue()
    path = tmp_path / "weekly.pdf"
    call_command("weekly_review", "--pdf", str(path), stdout=io.StringIO())
    assert path.read_bytes().startswith(b"%PDF")


def test_it_sends_the_weekly_summary_to_the_staff_channel_once_a_week(settings, django_capture_on_commit_callbacks):
    from packets.models import Message
    from packets.review import weekly_review_alert

    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/hook"  # nothing is sent: the callbacks are not run
    text = weekly_review_alert()
    weekly_review_alert()
    alert = Message.objects.get(audience="staff")
    assert alert.body == text and "Weekly review, week" in text and "/review/weekly/" in text
    assert "Customers wrote 0 times: none answered yet, 0 reply deadlines missed" in text
    assert alert.status == "queued"
