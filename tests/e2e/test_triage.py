"""The owner's morning in a real browser, and what a support agent may and may not do."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from packets import decisions as verbs
from packets.models import Case, Decision, Message, Outcome
from tests import factories
from tests.e2e.conftest import sign_in
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_filters_the_queue_reads_a_stockout_waits_and_approves_the_update(page, owner, artifacts):
    stockout, _ = case_with_packet(contract_content(order_number="#2001"), title="Order #2001 waits on MUG-SAGE")
    backorder_content = contract_content(order_number="#2002", sku="LAMP-BLACK")
    backorder_content["case"]["kind"] = "backorder"
    case_with_packet(backorder_content, title="Order #2002 waits on LAMP-BLACK")
    draft = factories.MessageFactory(
        case=stockout,
        step="update_48h",
        subject="An update on your order #2001",
        body=(
            "Your sage mug waits on our supplier. We expect it to ship between Dec 2 and Dec 9. "
            f"You can cancel at no cost here: {settings.SITE_URL}/o/example-token/"
        ),
    )

    sign_in(page, owner.username)
    expect(page.locator(".case-title")).to_have_count(2)
    page.evaluate("window.stillTheSamePage = true")
    page.locator('[data-facet="kind"] a', has_text="Stockout").click()
    page.wait_for_url(re.compile(r"kind=stockout"))
    expect(page.locator(".case-title")).to_have_count(1)
    assert page.evaluate("window.stillTheSamePage") is True  # htmx swapped the rows, no reload
    expect(page.locator(".case-title")).to_have_text("Order #2001 waits on MUG-SAGE")
    page.screenshot(path=artifacts / "queue.png")

    page.keyboard.press("j")
    expect(page.locator("#case-rows tr.selected")).to_have_count(1)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/cases/{stockout.pk}/?from=*")  # the case knows the queue view it came from
    expect(page.locator(".summary")).to_contain_text("the supplier is out of stock")
    expect(page.locator(".evidence .badge-confirmed")).to_be_visible()
    expect(page.locator("svg.timeline")).to_be_visible()
    page.screenshot(path=artifacts / "packet.png")
    page.screenshot(path=artifacts / "packet-full.png", full_page=True)

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    expect(page.locator("#shortcuts [data-decision-keys]")).to_contain_text("Wait")
    page.keyboard.press("Escape")

    page.keyboard.press("w")
    expect(page.locator('input[name=action][value="wait"]')).to_be_checked()
    page.keyboard.type("Northwind confirmed the stockout and gave a range.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".flash")).to_contain_text("Decided: Wait.")

    stockout.refresh_from_db()
    assert stockout.status == Case.Status.WAITING and stockout.next_check_at is not None
    decision = Decision.objects.get(case=stockout)
    assert decision.note == "Northwind confirmed the stockout and gave a range."
    assert decision.approved_by == owner

    page.locator(f'[data-message-id="{draft.pk}"] [data-approve-message]').click()
    expect(page.locator(".flash")).to_contain_text("Approved and queued")
    draft.refresh_from_db()
    assert draft.status == Message.Status.QUEUED


def test_support_sees_no_refund_approval_is_refused_a_forged_one_and_records_an_outcome(page, support, owner):
    case, _ = case_with_packet()
    proposal = verbs.decide(case.pk, support, action="refund", note="Customer asked twice for a refund")

    sign_in(page, support.username)
    page.goto(f"/cases/{case.pk}/")
    expect(page.locator(".proposals")).to_contain_text("Only the owner can approve this.")
    expect(page.locator("[data-approve-decision]")).to_have_count(0)

    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    forged = page.request.post(f"/cases/decisions/{proposal.pk}/approve/", headers={"X-CSRFToken": token})
    assert forged.status == 403
    proposal.refresh_from_db()
    assert proposal.status == Decision.Status.PROPOSED

    page.select_option(".outcome-form select[name=kind]", "customer_updated")
    page.fill(".outcome-form input[name=note]", "Told her the owner decides on refunds today.")
    page.locator(".outcome-form button").click()
    expect(page.locator(".flash")).to_contain_text("Recorded: Customer updated.")
    assert Outcome.objects.get(case=case).recorded_by == support
