"""Reply deadlines: a customer who wrote waits for a person's answer at most the policy's hours
(24 for a first message on the case, 48 for a later one); the case shows the time left, the queue
puts overdue cases first, and a passed deadline escalates the case to the owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from anymail.inbound import AnymailInboundMessage
from django.urls import reverse
from django.utils import timezone

from backorders.models import StorePolicy
from packets.models import AuditEvent, Case, InboundMail
from packets.notify import replies
from packets.notify.deadlines import mark_overdue
from packets.notify.tasks import send_message
from tests import factories
from tests.loopback import loopback_smtp  # noqa: F401
from tests.packets.reply_store import SENT_MESSAGE_ID, reply_email, store_that_wrote

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def queue_inline(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}


def customer_writes(n: int, body: str = "Any news on my kettle?") -> InboundMail:
    email = reply_email(to="orders@shop.example.com", body=body, In_Reply_To=SENT_MESSAGE_ID, message_id=f"<r{n}@x>")
    return replies.store("imap", AnymailInboundMessage.parse_raw_mime_bytes(email.as_bytes()))


def person_answers(case: Case) -> None:
    now = timezone.now()
    answer = factories.MessageFactory(
        case=case, order=case.order, status="queued", approved_at=now, queued_at=now, standing_approval=False
    )
    assert send_message(answer.pk).startswith("sent as")


def test_the_clock_starts_when_the_customer_writes_and_stops_when_a_person_answers(loopback_smtp):  # noqa: F811
    case = store_that_wrote()["case"]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        customer_writes(1)
        case.refresh_from_db()
        first_due = case.reply_due_at
        assert first_due == InboundMail.objects.get().received_at + timedelta(hours=24)

        clock.shift(timedelta(hours=3))
        customer_writes(2)  # still unanswered: the first deadline stands
        case.refresh_from_db()
        assert case.reply_due_at == first_due

        person_answers(case)
        case.refresh_from_db()
        assert case.reply_due_at is None and not case.reply_overdue

        clock.shift(timedelta(hours=1))
        customer_writes(3)  # a follow-up: the policy's 48 hours
        case.refresh_from_db()
        assert case.reply_due_at == timezone.now() + timedelta(hours=48)


def test_an_automated_update_is_not_an_answer(loopback_smtp):  # noqa: F811
    store = store_that_wrote()
    customer_writes(1)
    assert send_message(store["queued"].pk).startswith("sent as")  # the standing approval's update
    assert Case.objects.get(pk=store["case"].pk).reply_due_at is not None


def test_the_owners_policy_sets_the_hours():
    current = StorePolicy.objects.current()
    StorePolicy.objects.create(version=current.version + 1, reply_first_hours=4, reply_followup_hours=12)
    case = store_that_wrote()["case"]
    customer_writes(1)
    case.refresh_from_db()
    assert case.reply_due_at == InboundMail.objects.get().received_at + timedelta(hours=4)


def test_a_passed_deadline_escalates_once_and_puts_the_case_first(owner_client):
    waiting = store_that_wrote()["case"]
    chargeback = factories.CaseFactory(title="Chargeback threat", risk_level="chargeback_watch", risk_rank=60)
    customer_writes(1)
    page = owner_client.get(reverse("packets:case-detail", args=[waiting.pk])).content.decode()
    assert "reply due in 23 h" in page

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1), tick=False):
        queue = owner_client.get(reverse("packets:case-list")).content.decode()
        assert "reply overdue" in queue  # shown before the sweep escalates it
        assert mark_overdue() == [waiting.pk]
        assert mark_overdue() == []  # once per deadline

        waiting.refresh_from_db()
        assert waiting.reply_overdue and waiting.status == Case.Status.AWAITING_OWNER
        assert AuditEvent.objects.filter(action="case.reply_overdue", case_id=waiting.pk).count() == 1
        queue = owner_client.get(reverse("packets:case-list")).content.decode()
        assert queue.index(f'data-case-id="{waiting.pk}"') < queue.index(f'data-case-id="{chargeback.pk}"')
        detail = owner_client.get(reverse("packets:case-detail", args=[waiting.pk])).content.decode()
        assert "reply overdue since" in detail
