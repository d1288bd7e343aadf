"""Staff record a supplier's confirmation of a sent purchase order from the weekly review, in a real
Chromium, at laptop and phone widths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from packets.supplier_followup import approve_purchase_order
from suppliers.models import PurchaseOrder
from tests import factories
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_support_records_a_confirmation_from_the_weekly_review(page, support, owner, artifacts):
    supplier = factories.SupplierFactory(name="Copperline Goods", email="orders@copperline.example")
    po = factories.PurchaseOrderFactory(supplier=supplier, reference="PROP-COPPER-1A2B3C", status="proposed")
    factories.PurchaseOrderLineFactory(purchase_order=po, quantity=4)
    portal = factories.SupplierFactory(name="Portal Parts", email="", portal_url="https://portal.example/po")
    other = factories.PurchaseOrderFactory(supplier=portal, reference="PROP-PORTAL-9Z8Y7X", status="proposed")
    factories.PurchaseOrderLineFactory(purchase_order=other, quantity=2)
    approve_purchase_order(po.pk, owner)
    approve_purchase_order(other.pk, owner)

    sign_in(page, support.username)
    page.goto("/review/weekly/")
    row = page.locator("tr", has_text="PROP-COPPER-1A2B3C")
    expect(row).to_contain_text("Email queued to orders@copperline.example")
    expect(page.locator("tr", has_text="PROP-PORTAL-9Z8Y7X")).to_contain_text("Submitted on the portal")
    page.screenshot(path=artifacts / "review-po-confirmation-1366.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=artifacts / "review-po-confirmation-390.png", full_page=True)

    arrives_on = timezone.localdate() + timedelta(days=12)
    row.locator("input[name=arrives_on]").fill(arrives_on.isoformat())
    row.locator("input[name=words]").fill("Confirmed by phone")
    row.locator("button", has_text="Record confirmation").click()
    expect(page.locator("body")).to_contain_text(f"Recorded PROP-COPPER-1A2B3C as confirmed for {arrives_on:%b %-d}")
    po.refresh_from_db()
    assert po.quoted_at == arrives_on and po.confirmed_by == support
    assert PurchaseOrder.objects.get(pk=other.pk).sent_via == "portal"
