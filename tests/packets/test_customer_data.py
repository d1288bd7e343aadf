"""A customer's data on request: exported as JSON, or erased while the audit still verifies."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backorders.models import WebhookDelivery
from packets.models import AuditEvent, InboundMail, Packet, ZendeskTicket
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane():
    """Jane has an order waiting on stock, a case with a packet, a message to her and one from her."""
    customer = factories.CustomerFactory(name="Jane Doe", email="Jane@Example.com", phone="+15550100", sms_opt_in=True)
    order = factories.OrderFactory(
        customer=customer, shipping_name="Jane Doe", shipping_city="Springfield", shipping_postal_code="12345"
    )
    factories.OrderLineFactory(order=order, sku="MUG-1", title="Mug", quantity=2, unit_price="12.50")
    case = factories.CaseFactory(order=order)
    factories.PacketFactory(
        case=case, content={"facts": {"customer": {"name": "Jane Doe", "email": "jane@example.com"}}}
    )
    factories.MessageFactory(
        case=case,
        order=order,
        customer=customer,
        to="jane@example.com",
        body="Hi Jane, ...",
        delivery="bounced",
        delivery_detail="smtp;550 5.1.1 <jane@example.com>: Recipient address rejected",
    )
    ZendeskTicket.objects.create(
        case=case,
        idempotency_key="backorder-desk-case-jane",
        request={"ticket": {"subject": "Escalated", "comment": {"body": "Customer: Jane Doe <jane@example.com>"}}},
    )
    inbound = factories.InboundMessageFactory(
        case=case, order=order, customer=customer, from_address="jane@example.com", body="Where is it? Jane"
    )
    InboundMail.objects.create(  # the email it came in, kept raw
        source="imap",
        from_address="jane@example.com",
        subject="Re: your order",
        raw="From: Jane Doe <jane@example.com>\nSubject: Re: your order\n\nWhere is it? Jane\n",
        status="matched",
        case=case,
        inbound=inbound,
    )
    WebhookDelivery.objects.create(
        source=WebhookDelivery.Source.SHOPIFY,
        topic="orders/create",
        resource_id=f"order:{order.external_id}",
        body_sha256="0" * 64,
        headers={"x-shopify-topic": "orders/create"},
        body=b'{"email": "jane@example.com"}',
        status=WebhookDelivery.Status.PROCESSED,
    )
    factories.OrderFactory()  # someone else's order, left alone
    return customer


def _export(capsys, email: str) -> dict:
    call_command("export_customer", email)
    return json.loads(capsys.readouterr().out)


def test_it_exports_one_customers_orders_lines_messages_and_cases(jane, capsys):
    data = _export(capsys, "jane@example.com")
    assert data["customer"]["name"] == "Jane Doe" and data["customer"]["phone"] == "+15550100"
    assert [o["shipping_city"] for o in data["orders"]] == ["Springfield"]
    assert data["orders"][0]["lines"] == [{"sku": "MUG-1", "title": "Mug", "quantity": 2, "unit_price": "12.50"}]
    assert [m["body"] for m in data["messages"]] == ["Hi Jane, ..."]
    assert [m["from"] for m in data["inbound_messages"]] == ["jane@example.com"]
    [email] = data["emails_received"]
    assert email["from"] == "jane@example.com" and "Where is it? Jane" in email["source_text"]
    assert len(data["cases"]) == 1


def test_it_anonymises_the_customer_and_records_the_erasure(jane, capsys):
    call_command("erase_customer", "JANE@example.com")
    jane.refresh_from_db()
    assert (jane.name, jane.email, jane.phone, jane.sms_opt_in) == ("", "", "", False)
    assert jane.erased_at is not None
    order = jane.orders.get()
    assert (order.shipping_name, order.shipping_city, order.shipping_postal_code) == ("", "", "")
    message = order.messages.get()
    assert (message.to, message.body, message.delivery_detail) == ("[erased]", "[erased]", "[erased]")
    ticket = ZendeskTicket.objects.get()
    assert "jane" not in json.dumps(ticket.request).lower() and ticket.request["ticket"]["subject"] == "Escalated"
    inbound = order.inbound_messages.get()
    assert (inbound.from_address, inbound.body) == ("[erased]", "[erased]")
    delivery = WebhookDelivery.objects.get(resource_id=f"order:{order.external_id}")
    assert b"jane" not in bytes(delivery.body) and delivery.headers == {}
    event = AuditEvent.objects.get(action="customer.erased")
    assert event.object_id == str(jane.pk)
    assert event.data["counts"] == {
        "orders": 1,
        "messages": 1,
        "zendesk_tickets": 1,
        "inbound_messages": 1,
        "inbound_mail": 1,
        "webhook_deliveries": 1,
        "shipments": 0,
        # found by value: the ticket's requester name, and the order's body (also erased by its id)
        "copies": {"zendesk_copies": 1, "webhook_deliveries": 1},
    }
    assert event.data["packets_kept"] == list(Packet.objects.values_list("pk", flat=True))
    assert "1 packet(s) keep their snapshot" in capsys.readouterr().out


@pytest.mark.postgres
def test_it_keeps_the_packets_verifiable_after_an_erasure(jane, capsys):
    call_command("erase_customer", "jane@example.com")
    call_command("verify_audit")
    assert capsys.readouterr().out.strip().endswith("audit rows are append-only.")


def test_it_refuses_an_unknown_or_already_erased_customer(jane):
    with pytest.raises(CommandError, match="No customer with the email"):
        call_command("export_customer", "nobody@example.com")
    call_command("erase_customer", "jane@example.com")
    with pytest.raises(CommandError, match="No customer with the email"):
        call_command("erase_customer", "jane@example.com")
