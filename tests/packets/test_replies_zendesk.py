"""Comments on a case's Zendesk ticket come back in through Zendesk's signed webhook, as replies.

The posts are real HTTP requests to the live test server, in the shape of Zendesk's
``zen:event-type:ticket.comment_added`` event, signed as Zendesk signs them. The worker's tasks run
in the queue's sync mode, as a free worker would run them at once.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from packets.integrations import zendesk_comments
from packets.models import AuditEvent, Case, InboundMail, InboundMessage, Message, ZendeskTicket
from packets.notify import replies
from tests.packets.reply_store import THREAT, store_that_wrote

pytestmark = [pytest.mark.postgres]

SECRET = "zd-signing-s3cret"
TICKET = 35436
REQUESTER = "9201"


@pytest.fixture
def zendesk_settings(settings):
    settings.ZENDESK_WEBHOOK_SECRET = SECRET
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    return settings


def escalated_store() -> dict:
    store = store_that_wrote()
    ZendeskTicket.objects.create(
        case=store["case"],
        idempotency_key=f"key-{store['case'].pk}",
        request={},
        status=ZendeskTicket.Status.CREATED,
        ticket_id=TICKET,
    )
    return store


def comment_added(
    body: str = THREAT,
    *,
    comment_id: int = 7001,
    author: str = REQUESTER,
    staff: bool = False,
    public: bool = True,
    ticket: int = TICKET,
) -> dict:
    """Zendesk's comment_added event (its documented fields: detail is the ticket, event.comment the comment)."""
    return {
        "type": "zen:event-type:ticket.comment_added",
        "account_id": 9242270,
        "id": "ecd26460-0ca3-433b-b908-d891a0aa6fb4",
        "time": timezone.now().isoformat(),
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket}",
        "detail": {
            "id": str(ticket),
            "requester_id": REQUESTER,
            "subject": "Backorder case: kettle",
            "status": "OPEN",
            "is_public": True,
        },
        "event": {
            "comment": {
                "id": str(comment_id),
                "body": body,
                "is_public": public,
                "author": {"id": author, "is_staff": staff, "name": "Marguerite Oduya"},
            },
            "meta": {"sequence": {"id": "CE4A698A", "position": 1, "total": 1}},
        },
    }


def post(live_server, event: dict, *, secret: str = SECRET, stamp: str | None = None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(event).encode()
    stamp = stamp or timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return requests.post(
        f"{live_server.url}/webhooks/zendesk/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": zendesk_comments.signature_of(secret, stamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        },
        timeout=30,
    )


@pytest.mark.django_db(transaction=True)
def test_it_puts_the_requesters_public_comment_on_the_case_scored_at_once(live_server, zendesk_settings):
    store = escalated_store()
    case = store["case"]

    response = post(live_server, comment_added())

    assert response.status_code == 200, response.text
    inbound = InboundMessage.objects.get(case=case)  # sync queue: read before the answer went back
    assert inbound.body == THREAT and inbound.customer == store["customer"] and inbound.escalated
    assert {"chargeback", "callback_requested"} <= set(inbound.intents)
    mail = InboundMail.objects.get()
    assert (mail.source, mail.status, mail.matched_by) == ("zendesk", "matched", "ticket")
    assert json.loads(mail.raw)["event"]["comment"]["body"] == THREAT  # kept whole, for a replay
    assert mail.from_address == store["customer"].email
    case.refresh_from_db()
    assert case.risk_level == Case.Risk.CHARGEBACK_WATCH and case.latest_packet.version == 2
    assert case.reply_due_at is not None  # the customer now waits for an answer
    assert "only the owner approves" in Message.objects.get(pk=store["draft"].pk).owner_reason
    replied = AuditEvent.objects.get(action="customer.replied", case_id=case.pk)
    assert "Zendesk" in replied.summary


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("event", "why"),
    [
        (comment_added("We have chased the supplier.", author="5", staff=True), "agent"),
        (comment_added("Customer sounds upset, scam talk", author="5", staff=True, public=False), "internal note"),
        (comment_added("This is a scam", author="777"), "someone other than the ticket's requester"),
        (comment_added(THREAT, public=False), "internal note"),
    ],
)
def test_only_the_requesters_public_comments_count_as_customer_words(live_server, zendesk_settings, event, why):
    store = escalated_store()

    assert post(live_server, event).status_code == 200

    mail = InboundMail.objects.get()
    assert (mail.status, mail.case_id) == (InboundMail.Status.NOT_CUSTOMER, store["case"].pk)
    assert mail.note.startswith("Not scored") and why in mail.note
    assert not InboundMessage.objects.exists()
    assert Case.objects.get(pk=store["case"].pk).risk_level != Case.Risk.CHARGEBACK_WATCH


@pytest.mark.django_db(transaction=True)
def test_a_post_that_does_not_verify_is_refused_and_keeps_nothing(live_server, zendesk_settings):
    escalated_store()
    event = comment_added()
    stale = (timezone.now() - timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (timezone.now() + timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")

    wrong = post(live_server, event, secret="not-the-secret")
    assert wrong.status_code == 401 and "does not match" in wrong.text
    old = post(live_server, event, stamp=stale)
    assert old.status_code == 401 and "stale" in old.text
    assert post(live_server, event, stamp=future).status_code == 401
    unsigned = requests.post(f"{live_server.url}/webhooks/zendesk/", json=event, timeout=30)
    assert unsigned.status_code == 401 and "required" in unsigned.text
    # a signed body altered on the way
    body = json.dumps(event).encode()
    stamp = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    tampered = requests.post(
        f"{live_server.url}/webhooks/zendesk/",
        data=body.replace(b"scam", b"gift"),
        headers={
            "X-Zendesk-Webhook-Signature": zendesk_comments.signature_of(SECRET, stamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        },
        timeout=30,
    )
    assert tampered.status_code == 401
    assert not InboundMail.objects.exists() and not InboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_without_the_secret_every_post_is_refused(live_server, zendesk_settings):
    zendesk_settings.ZENDESK_WEBHOOK_SECRET = ""
    escalated_store()
    refused = post(live_server, comment_added(), secret="")
    assert refused.status_code == 401 and "ZENDESK_WEBHOOK_SECRET" in refused.text
    assert not InboundMail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_signed_bodies_of_the_wrong_shape_get_400_and_other_events_are_ignored(live_server, zendesk_settings):
    escalated_store()
    assert post(live_server, {}, raw=b"not json").status_code == 400
    assert post(live_server, {}, raw=b"[1, 2]").status_code == 400
    broken = comment_added()
    del broken["event"]["comment"]["id"]
    assert post(live_server, broken).status_code == 400
    no_detail = {**comment_added(), "detail": "35436"}
    assert post(live_server, no_detail).status_code == 400
    other = {**comment_added(), "type": "zen:event-type:ticket.status_changed"}
    ignored = post(live_server, other)
    assert ignored.status_code == 200 and ignored.text.startswith("ignored")
    assert not InboundMail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_zendesks_retry_of_the_same_comment_keeps_one_reply(live_server, zendesk_settings):
    escalated_store()
    assert post(live_server, comment_added()).status_code == 200
    assert post(live_server, comment_added()).status_code == 200
    assert InboundMail.objects.count() == 1 and InboundMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_comment_on_a_ticket_no_case_opened_waits_for_a_person_who_attaches_it(
    live_server, zendesk_settings, support
):
    store = escalated_store()

    assert post(live_server, comment_added(ticket=99999)).status_code == 200

    mail = InboundMail.objects.get()
    assert mail.status == "unmatched" and "99999" in mail.note
    inbound = replies.attach(mail.pk, store["case"].pk, support)
    assert inbound.body == THREAT and "chargeback" in inbound.intents
    assert InboundMail.objects.get().status == "matched"


@pytest.mark.django_db(transaction=True)
def test_a_kept_comment_whose_reading_was_never_queued_is_read_by_the_catch_up(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    store = escalated_store()
    event = comment_added()
    mail = InboundMail.objects.create(
        source=InboundMail.Source.ZENDESK,
        message_id="zendesk-comment-7001",
        raw=json.dumps(event),
        stripped_text=THREAT,
        received_at=timezone.now() - timedelta(minutes=5),
    )

    assert replies.apply_received() == 0  # the email catch-up leaves it to its own task
    assert replies.apply_reply(mail.pk).startswith("not an email")
    assert zendesk_comments.apply_received_comments() == 1

    mail.refresh_from_db()
    assert mail.status == "matched" and mail.case_id == store["case"].pk


@pytest.mark.django_db(transaction=True)
def test_erasing_the_customer_erases_their_kept_comments(live_server, zendesk_settings):
    store = escalated_store()
    assert post(live_server, comment_added()).status_code == 200
    assert post(live_server, comment_added(ticket=99999, comment_id=7002)).status_code == 200  # unmatched

    call_command("erase_customer", store["customer"].email, stdout=open("/dev/null", "w"))  # noqa: SIM115

    for mail in InboundMail.objects.all():
        assert mail.status == InboundMail.Status.ERASED
        assert "Oduya" not in mail.raw + mail.stripped_text + mail.from_address and THREAT not in mail.raw


@pytest.mark.django_db(transaction=True)
def test_the_unmatched_page_shows_a_comments_words_not_its_json(live_server, zendesk_settings, support_client):
    escalated_store()
    assert post(live_server, comment_added("Where is my kettle?", ticket=99999)).status_code == 200
    assert post(live_server, comment_added("   ", ticket=99998, comment_id=7003)).status_code == 200

    page = support_client.get("/replies/unmatched/").content.decode()

    assert "Where is my kettle?" in page and "zen:event-type" not in page


@pytest.mark.django_db
def test_the_connections_page_says_whether_comments_can_come_in(owner_client, settings):
    settings.ZENDESK_WEBHOOK_SECRET = ""
    page = owner_client.get("/connections/").content.decode()
    assert "/webhooks/zendesk/ (ZENDESK_WEBHOOK_SECRET not set: comments are refused)" in page
    settings.ZENDESK_WEBHOOK_SECRET = SECRET
    assert "/webhooks/zendesk/ (ZENDESK_WEBHOOK_SECRET set)" in owner_client.get("/connections/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_tickets_subject_is_the_stores_words_and_is_not_scored(live_server, zendesk_settings):
    store = escalated_store()
    event = comment_added("Thanks, that helps a lot.")
    event["detail"]["subject"] = "Escalated: chargeback threat, customer says scam, wants a callback"

    assert post(live_server, event).status_code == 200

    inbound = InboundMessage.objects.get(case=store["case"])
    assert inbound.subject == f"Comment on Zendesk ticket {TICKET}"
    assert "chargeback" not in inbound.intents and "callback_requested" not in inbound.intents
