"""A customer's email no case matched: support finds it under Replies in the browser, attaches it to
its case, and the queue then shows that the customer wrote.

The reply comes in as a provider posts it (a real HTTP post to the live test server's Postmark
inbound URL, with the webhook's basic auth); the worker's tasks run in the queue's sync mode.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
from playwright.sync_api import expect

from packets.models import Case, InboundMail
from tests.e2e.conftest import sign_in
from tests.packets.reply_store import store_that_wrote

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "desk:inbound-s3cret"


def test_support_attaches_an_unmatched_reply_and_the_queue_shows_the_customer_wrote(
    page, live_server, settings, support
):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    case = store_that_wrote()["case"]
    body = {
        "FromFull": {"Email": "m.oduya.work@example.org", "Name": "Marguerite Oduya"},
        "ToFull": [{"Email": "orders@shop.example.com", "Name": ""}],
        "Subject": "My kettle",
        "MessageID": "5a1c0f2e-unmatched",
        "TextBody": "Please call me about my kettle order.",
        "StrippedTextReply": "",
        "Headers": [{"Name": "Message-ID", "Value": "<kettle-1@work.example.org>"}],
    }
    auth = base64.b64encode(SECRET.encode()).decode()
    posted = requests.post(
        f"{live_server.url}/anymail/postmark/inbound/",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        timeout=30,
    )
    assert posted.status_code == 200 and InboundMail.objects.get().status == "unmatched"

    sign_in(page, support.username)
    page.get_by_role("link", name="Replies").click()
    row = page.locator("tr", has_text="m.oduya.work@example.org")
    expect(row).to_contain_text("Please call me about my kettle order.")
    row.get_by_label("Case number").fill(str(case.pk))
    row.get_by_role("button", name="Attach").click()

    expect(page.get_by_text(f"Attached to case {case.pk}.")).to_be_visible()
    expect(page.get_by_text("No unmatched replies.")).to_be_visible()
    page.goto("/cases/")
    queue_row = page.locator(f"tr[data-case-id='{case.pk}']")
    expect(queue_row.locator("[data-customer-wrote]")).to_have_text("customer wrote 0 min ago")
    assert InboundMail.objects.get().matched_by == "person"
    assert "callback_requested" in Case.objects.get(pk=case.pk).inbound_messages.get().intents
