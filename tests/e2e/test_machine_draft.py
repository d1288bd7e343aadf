"""Support asks for a machine-drafted reply on the case page in the browser, reads it, and sees it
waits for approval, marked as machine-drafted.

The drafting model is a real HTTP server on loopback answering in the chat-completions shape.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from packets.models import Message
from tests.e2e.conftest import sign_in
from tests.loopback import loopback_http  # noqa: F401
from tests.packets.reply_store import store_that_wrote

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TEXT = "Our supplier is out of stock on the kettle and expects more in two to three weeks. We will write again soon."


def test_support_drafts_a_reply_with_the_model_and_it_waits_for_approval(
    page,
    live_server,
    settings,
    support,
    loopback_http,  # noqa: F811
):
    settings.LLM_BASE_URL = f"{loopback_http.url}/v1"
    settings.LLM_API_KEY, settings.LLM_MODEL = "sk-test", "desk-test"
    loopback_http.answer(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}}]})
    case = store_that_wrote()["case"]

    sign_in(page, support.username)
    page.goto(f"/cases/{case.pk}/")
    page.get_by_role("button", name="Draft a reply").click()

    expect(page.get_by_text("Machine-drafted reply stored as a draft")).to_be_visible()
    drafted = page.locator("article.message", has_text=TEXT)
    expect(drafted.locator(".flag-machine")).to_have_text("machine-drafted")
    expect(drafted.locator(".chip")).to_have_text("Draft")
    message = Message.objects.get(machine_drafted=True)
    assert message.status == Message.Status.DRAFT and message.sent_at is None
