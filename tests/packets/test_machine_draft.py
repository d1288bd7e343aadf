"""Optional machine drafting: "Draft a reply" on the case page asks an OpenAI-compatible server.

The server is a real HTTP server on loopback (``tests/loopback.py``) answering in the
chat-completions shape (``choices[0].message.content``), as scripted per test: a clean draft, a
draft that breaks a guideline, no answer in time, a 500.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from packets.models import AuditEvent, InboundMessage, Message
from packets.notify.messaging import approve_message
from tests.loopback import loopback_http  # noqa: F401
from tests.packets.reply_store import CUSTOMER_EMAIL, store_that_wrote

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CLEAN = (
    "Thank you for your patience. Our supplier is out of stock on the kettle and expects more in two to "
    "three weeks. We are holding your order and will write again as soon as we hear more."
)
EXACT_DATE = "Good news: your kettle ships on December 14 and will be with you soon after."
ASKED = "Any news? You can call me on +1 541 555 0187 or write to marguerite.work@example.org"


def completion(text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "desk-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


@pytest.fixture
def drafting(settings, loopback_http):  # noqa: F811
    settings.LLM_BASE_URL = f"{loopback_http.url}/v1"
    settings.LLM_API_KEY = "sk-test-key"
    settings.LLM_MODEL = "desk-test"
    settings.LLM_TIMEOUT_SECONDS = 1
    return loopback_http


def with_thread() -> dict:
    store = store_that_wrote()
    InboundMessage.objects.create(
        case=store["case"],
        customer=store["customer"],
        order=store["order"],
        from_address=CUSTOMER_EMAIL,
        body=ASKED,
        received_at=timezone.now() - timedelta(minutes=30),
    )
    return store


def draft(client, case) -> tuple:
    before = set(Message.objects.values_list("pk", flat=True))
    response = client.post(reverse("packets:case-draft-reply", args=[case.pk]), follow=True)
    made = list(Message.objects.exclude(pk__in=before))
    return response, made


def test_it_drafts_a_reply_from_the_packet_and_thread_and_leaves_it_for_approval(support_client, drafting):
    store = with_thread()
    case, customer = store["case"], store["customer"]
    drafting.answer(200, completion(CLEAN))

    response, made = draft(support_client, case)

    assert response.status_code == 200
    (message,) = made
    assert message.machine_drafted and message.status == Message.Status.DRAFT and not message.standing_approval
    assert message.guideline_issues == [] and message.to == customer.email and message.case == case
    assert CLEAN in message.body and message.body.startswith("Hi Marguerite,")
    assert "/o/" in message.body  # the customer page, added here rather than by the model
    page = response.content.decode()
    assert "machine-drafted" in page and "Draft a reply" in page
    (sent,) = drafting.requests
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    asked = sent.json()
    assert asked["model"] == "desk-test" and asked["temperature"] == 0.2
    prompt = " ".join(part["content"] for part in asked["messages"])
    assert store["order"].number in prompt and "Any news?" in prompt  # the facts and the thread
    for personal in ("Oduya", "Marguerite", customer.email.lower(), "555 0187", "marguerite.work@example.org"):
        assert personal.lower() not in prompt.lower(), personal  # only what the draft needs
    assert AuditEvent.objects.filter(action="message.machine_drafted", case_id=case.pk).exists()


def test_a_draft_that_breaks_a_guideline_is_stored_with_it_and_cannot_be_approved(owner, owner_client, drafting):
    store = with_thread()
    drafting.answer(200, completion(EXACT_DATE))

    response, made = draft(owner_client, store["case"])

    (message,) = made
    assert message.machine_drafted and message.status == Message.Status.DRAFT
    assert any("exact date" in issue for issue in message.guideline_issues), message.guideline_issues
    assert "it breaks the store" in response.content.decode()
    with pytest.raises(ValidationError, match="guidelines"):
        approve_message(message.pk, owner)
    assert Message.objects.get(pk=message.pk).status == Message.Status.DRAFT


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"status": 200, "body": completion(CLEAN), "delay": 2.5}, "did not answer within 1 s"),
        ({"status": 500, "body": {"error": {"message": "model overloaded"}}}, "answered 500"),
        ({"status": 200, "body": {"choices": []}}, "unknown shape"),
    ],
)
def test_no_answer_or_a_failed_one_stores_nothing_and_says_why(support_client, drafting, answer, said):
    store = with_thread()
    drafting.answer(answer["status"], answer["body"], delay=answer.get("delay", 0.0))

    response, made = draft(support_client, store["case"])

    assert response.status_code == 200 and made == []
    assert said in response.content.decode()
    assert not AuditEvent.objects.filter(action="message.machine_drafted").exists()


def test_it_is_off_by_default(support_client, settings):
    settings.LLM_BASE_URL = settings.LLM_API_KEY = settings.LLM_MODEL = ""
    store = store_that_wrote()
    page = support_client.get(reverse("packets:case-detail", args=[store["case"].pk])).content.decode()
    assert "Draft a reply" not in page
    assert support_client.post(reverse("packets:case-draft-reply", args=[store["case"].pk])).status_code == 404
    assert not Message.objects.filter(machine_drafted=True).exists()


def test_only_staff_may_ask_for_a_draft(client, outsider, drafting):
    store = store_that_wrote()
    client.force_login(outsider)
    assert client.post(reverse("packets:case-draft-reply", args=[store["case"].pk])).status_code == 403
    assert drafting.requests == []
