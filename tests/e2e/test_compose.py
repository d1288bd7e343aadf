"""Support writes to a customer in a real Chromium under the strict Content-Security-Policy: the
guideline check answers as they type (htmx, no inline script), the edited draft is saved and
audited, and a reply from the case page joins the conversation as a draft."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from packets import decisions
from packets.models import AuditEvent, Case, Decision, Message
from tests import factories
from tests.e2e.conftest import sign_in
from tests.e2e.test_content_security_policy import watched
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_support_edits_a_stale_parcel_update_with_the_live_check_and_replies(page, support, owner, artifacts):
    order = factories.OrderFactory(customer=factories.CustomerFactory(name="Lee Park"))
    factories.OrderLineFactory(order=order)
    shipment = factories.ShipmentFactory(order=order)  # a label, no carrier scan
    case, _ = case_with_packet(
        contract_content(), order=order, shipment=shipment, kind=Case.Kind.STALE_TRACKING, category="label_created_only"
    )
    decisions.decide(case.pk, owner, action=Decision.Action.MESSAGE_CUSTOMER, note="Tell him what we know.")
    draft = case.messages.get()
    console = watched(page)

    sign_in(page, support.username)
    page.goto(f"/cases/{case.pk}/")
    editor = page.locator(f"[data-edit-draft='{draft.pk}']")
    editor.locator("summary").click()
    body = editor.locator("textarea[name=body]")
    body.fill(draft.body.replace("What we know:", "Good news: your parcel has shipped. What we know:"))
    expect(editor.locator(".guideline-issues")).to_contain_text("a label alone is not a shipment")
    page.locator("#messages").screenshot(path=artifacts / "compose-live-check.png")

    body.fill(draft.body.replace("What we know:", "Thanks for your patience. What we know:"))
    expect(editor.locator("[data-guidelines-ok]")).to_be_visible()
    editor.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Saved the draft.")).to_be_visible()
    assert "Thanks for your patience." in Message.objects.get(pk=draft.pk).body
    assert AuditEvent.objects.get(action="message.edited").data["before"]["body"] == draft.body

    reply = page.locator("#reply")
    reply.locator("summary").click()
    reply.locator("textarea[name=body]").fill("Hi Lee,\n\nWe have asked the carrier and will write within 3 days.")
    expect(reply.locator("[data-guidelines-ok]")).to_be_visible()
    reply.get_by_role("button", name="Draft the reply").click()
    expect(page.get_by_text("Reply drafted: it goes out once approved.")).to_be_visible()
    expect(page.locator("#conversation [data-thread-row='ours']").last).to_contain_text("asked the carrier")

    page.locator("#conversation").screenshot(path=artifacts / "compose-conversation.png")
    assert page.evaluate("window.__violations") == []
    assert not [line for line in console if "Content Security Policy" in line], console
