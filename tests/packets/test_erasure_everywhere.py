"""Erasure reaches every copy of a customer's data: seeded in every place a copy lands, then the whole
database is read back as text (every table, byte columns decoded, the task queue's pickles loaded).

What may still hold it is what the README names as kept under the audit trail's legal hold:
append-only audit rows written before the erasure, and the hashed packet snapshots.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Task

from backorders.models import Customer, ImportJob, WebhookDelivery
from packets.models import (
    AuditEvent,
    InboundMail,
    InboundMessage,
    OutboundDelivery,
    Outcome,
    SlackInteraction,
    SlackPost,
    ZendeskTicket,
)
from tests import factories
from tests.packets.contract_content import pdf_text
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NAME, EMAIL, PHONE, CHANNEL_ID = "Wilhelmina Quarrington", "W.Quarrington@Example.org", "+15415550187", "7712093381"
CITY, POSTAL = "Bexleyhampton", "97999"
IDENTIFYING = [NAME, EMAIL, PHONE, "(541) 555-0187", CHANNEL_ID]
LEGAL_HOLD = {"packets_auditevent", "packets_packet"}


def seed_everywhere(owner):
    customer = factories.CustomerFactory(
        name=NAME, email=EMAIL, phone=PHONE, shopify_id=CHANNEL_ID, sms_opt_in=True, preferred_channel="sms"
    )
    order = factories.OrderFactory(
        customer=customer, shipping_name=NAME, shipping_city=CITY, shipping_postal_code=POSTAL
    )
    factories.OrderLineFactory(order=order, quantity=1)
    content = contract_content()
    content["order"]["customer"].update(name=NAME, email=EMAIL)
    case, packet = case_with_packet(content, order=order, title=f"Order waits: {NAME}")
    shipment = factories.ShipmentFactory(order=order, destination_postal_code=POSTAL)
    factories.TrackingEventFactory(shipment=shipment, location=f"{CITY}, OR {POSTAL}")
    factories.DecisionFactory(case=case, decided_by=owner, note=f"Called {NAME} at (541) 555-0187, lives in {CITY}")
    Outcome.objects.create(
        case=case, kind="customer_updated", note=f"{NAME} <{EMAIL.lower()}> agreed", recorded_by=owner
    )
    factories.MessageFactory(
        case=case,
        order=order,
        customer=customer,
        to=PHONE,
        channel="sms",
        subject=f"For {NAME}",
        body=f"Hi {NAME}",
        status="failed",
        approved_at=timezone.now(),
        last_error=f"Twilio answered 400: {PHONE} is not reachable",
    )
    inbound = InboundMessage.objects.create(
        case=case,
        order=order,
        customer=customer,
        from_address=EMAIL,
        subject=f"Re: {NAME}",
        body="Where is it?",
        received_at=timezone.now(),
    )
    InboundMail.objects.create(  # the email that reply came in, kept raw for a replay
        source="postmark",
        message_id="<erasure-1@mail.example.org>",
        from_address=EMAIL,
        subject=f"Re: {NAME}",
        raw=f"From: {NAME} <{EMAIL}>\nSubject: Re: {NAME}\nMessage-ID: <erasure-1@mail.example.org>\n\nWhere is it?\n",
        stripped_text="Where is it?",
        status="matched",
        case=case,
        inbound=inbound,
    )
    InboundMail.objects.create(  # from another address of theirs, matched to nothing: found by value
        source="imap",
        message_id="<erasure-2@work.example.org>",
        from_address="w.q@work.example.org",
        subject="Order question",
        raw=f"From: w.q@work.example.org\nSubject: Order question\n\nAny news?\n-- \n{NAME}\n(541) 555-0187\n",
        status="unmatched",
    )
    ZendeskTicket.objects.create(
        case=case, idempotency_key="zd-erasure", request={"ticket": {"requester": {"name": NAME, "email": EMAIL}}}
    )
    alert = {"channel": "C0OWNERS01", "text": f"Needs you: {case.title}", "blocks": [{"type": "header"}]}
    SlackPost.objects.create(  # the owner's Slack alert quoting the case title
        case=case, method="chat.postMessage", state_key="v1:open:owner_only", request=alert, status="sent", ts="1.2"
    )
    SlackInteraction.objects.create(  # a press on it: Slack sends the message back with the press
        key="press-erasure", case=case, slack_user_id="U0OWNER01", payload={"message": {"text": alert["text"]}}
    )
    subscription = factories.OutboundSubscriptionFactory()
    OutboundDelivery.objects.create(
        subscription=subscription,
        event_id="evt_erasure",
        event_type="case.updated",
        case=case,
        payload={"data": {"title": case.title, "customer": {"email": EMAIL}}},
    )
    WebhookDelivery.objects.create(  # a rejected delivery: not linked to the order at all
        source=WebhookDelivery.Source.SHOPIFY,
        topic="orders/create",
        body_sha256="1" * 64,
        headers={"x-shopify-topic": "orders/create"},
        body=f'{{"email": "{EMAIL.upper()}", "customer": {{"id": {CHANNEL_ID}}}}}'.encode(),
        status=WebhookDelivery.Status.REJECTED,
        error="signature check failed",
    )
    ImportJob.objects.create(
        kind="orders",
        filename="orders.csv",
        content=f"Name,Email,Phone\n#1,{EMAIL},(541) 555-0187\n#2,other@example.com,\n".encode(),
        errors=[{"row": 2, "column": "Email", "level": "flag", "reason": f"{EMAIL} is new"}],
    )
    Task.objects.create(
        id=uuid.uuid4().hex,
        name="failed-send",
        func="packets.notify.tasks.send_message",
        started=timezone.now() - timedelta(seconds=2),
        stopped=timezone.now(),
        success=False,
        args=(1,),
        result=f"PermanentSendError: The mail server refused the address {EMAIL}",
    )
    LogEntry.objects.create(
        user=owner,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(customer.pk),
        object_repr=NAME,
        action_flag=CHANGE,
        change_message=f"Changed phone of {NAME}.",
    )
    AuditEvent.record("decision.noted", actor=owner, case=case, summary=f"Note about {NAME}")  # legal hold
    return customer, case, packet


def database_text() -> dict[str, str]:
    """Every table as text: each row cast to text, byte columns decoded, task pickles loaded."""
    tables = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        for (table,) in cursor.fetchall():
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND data_type = 'bytea'",
                [table],
            )
            byte_columns = [column for (column,) in cursor.fetchall()]
            decoded = "".join(f", convert_from({c}, 'UTF8')" for c in byte_columns)
            cursor.execute(f'SELECT t::text{decoded} FROM "{table}" t')
            tables[table] = "\n".join(" ".join(str(v) for v in row) for row in cursor.fetchall())
    tables["django_q_task (unpickled)"] = "\n".join(
        f"{task.result} {task.args} {task.kwargs}" for task in Task.objects.all()
    )
    return tables


def holders(values) -> dict[str, list[str]]:
    found = {}
    for table, text in database_text().items():
        hits = [value for value in values if value.lower() in text.lower()]
        if hits:
            found[table] = hits
    return found


def test_the_seed_reaches_every_place_the_grep_reads(owner):
    seed_everywhere(owner)
    held = holders(IDENTIFYING)
    assert {
        "backorders_customer",
        "backorders_webhookdelivery",
        "backorders_importjob",
        "packets_decision",
        "packets_outcome",
        "packets_message",
        "packets_outbounddelivery",
        "packets_zendeskticket",
        "packets_slackpost",
        "packets_slackinteraction",
        "packets_inboundmessage",
        "packets_inboundmail",
        "packets_case",
        "django_admin_log",
        "django_q_task (unpickled)",
    } <= set(held) | LEGAL_HOLD


def test_after_erasure_only_the_legal_hold_still_holds_the_customer(owner):
    customer, _, _ = seed_everywhere(owner)
    before = set(AuditEvent.objects.values_list("pk", flat=True))

    call_command("erase_customer", EMAIL.upper(), stdout=open("/dev/null", "w"))  # noqa: SIM115

    held = holders(IDENTIFYING)
    assert set(held) <= LEGAL_HOLD, held
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, summary, data::text FROM packets_auditevent")
        quoting = {pk for pk, summary, data in cursor.fetchall() if NAME.lower() in (summary + data).lower()}
    assert quoting <= before, "the erasure's own audit rows quote nothing"
    local = holders([CITY, POSTAL])
    assert set(local) <= LEGAL_HOLD, local
    other = Customer.objects.exclude(pk=customer.pk)
    assert not other.filter(name="[erased]").exists()


def test_the_packet_page_and_pdf_no_longer_show_the_erased_customer(owner, owner_client, packet_pdf_cache):
    _, case, _ = seed_everywhere(owner)
    page = owner_client.get(f"/cases/{case.pk}/").content.decode()
    assert EMAIL in page and NAME in page
    before = owner_client.get(f"/cases/{case.pk}/packet.pdf")
    assert before.status_code == 200
    [kept] = (Path(packet_pdf_cache) / str(case.pk)).glob("*.pdf")  # the PDF rendered before the erasure

    call_command("erase_customer", EMAIL, stdout=open("/dev/null", "w"))  # noqa: SIM115

    page = owner_client.get(f"/cases/{case.pk}/").content.decode()
    assert EMAIL.lower() not in page.lower() and NAME not in page
    pdf = owner_client.get(f"/cases/{case.pk}/packet.pdf")
    assert pdf.status_code == 200
    text = pdf_text(b"".join(pdf.streaming_content) if pdf.streaming else pdf.content)
    assert EMAIL.lower() not in text.lower() and NAME not in text
    assert not kept.exists()
    call_command("verify_audit", stdout=open("/dev/null", "w"))  # noqa: SIM115  (the packets still verify)
