"""A customer's personal data: export it for an access request, erase it on request.

Erasure anonymises what identifies the person and keeps the structure the audit relies on:

* the customer row: name, email and phone blanked, SMS opt-in off, ``erased_at`` set;
* their orders: the shipping name and address blanked (city, region, postal code; the country
  stays, for tax and reporting);
* messages to them: recipient, body and the provider's delivery report replaced; subjects and
  statuses stay, so the trail reads;
* the Zendesk tickets of their cases: the kept copy of the ticket's comment replaced (the ticket
  in Zendesk is the store's own helpdesk record, erased there);
* inbound messages from them: body and sender address replaced; the emails they came in (kept
  raw for a replay, ``InboundMail``): source, sender and subject replaced;
* the raw webhook deliveries of their orders: the kept body replaced by a marker (its SHA-256 of
  the original stays, so a duplicate copy is still recognised) and the headers emptied.

Copies that landed elsewhere (a name typed into a decision note, an address quoted in a failed
task's result or an outbound event, a rejected webhook's body, an import file, the channel's
customer id) are found by value and replaced (``packets.privacy.erasure``).

Packets are left untouched. They are immutable snapshots whose SHA-256 an auditor checks
(``manage.py verify_audit``), and they record what was known when a decision was made. The
erasure's ``AuditEvent`` lists the packets that still hold the customer's name or email, so the
record shows what was kept and why. Audit rows themselves are append-only and are not rewritten.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backorders.models import Customer, Order, Shipment, WebhookDelivery
from packets.models import AuditEvent, Case, InboundMail, InboundMessage, Message, Packet, ZendeskTicket
from packets.privacy.erasure import (
    ERASED,
    ERASED_BODY,
    Scrubber,
    erase_inbound_mail,
    needles,
    scrub_everywhere,
    scrub_related,
)


class CustomerNotFound(Exception):
    pass


def find_customer(email: str) -> Customer:
    customer = Customer.objects.filter(email__iexact=email.strip()).first()
    if customer is None:
        raise CustomerNotFound(f"No customer with the email {email!r}.")
    return customer


def _cases(customer: Customer):
    return Case.objects.filter(order__customer=customer).order_by("pk")


def export_customer(email: str) -> dict:
    """Everything kept about one customer, as plain JSON-ready data (an access request)."""
    customer = find_customer(email)
    orders = Order.objects.filter(customer=customer).prefetch_related("lines").order_by("placed_at", "pk")
    messages = Message.objects.filter(Q(customer=customer) | Q(order__customer=customer)).order_by("created_at", "pk")
    inbound = InboundMessage.objects.filter(Q(customer=customer) | Q(order__customer=customer))
    emails = InboundMail.objects.filter(
        Q(inbound__customer=customer)
        | Q(inbound__order__customer=customer)
        | (Q(from_address__iexact=customer.email) if customer.email else Q(pk__in=[]))
    ).order_by("received_at", "pk")
    return {
        "customer": {
            "email": customer.email,
            "name": customer.name,
            "phone": customer.phone,
            "preferred_channel": customer.preferred_channel,
            "sms_opt_in": customer.sms_opt_in,
            "created_at": customer.created_at.isoformat(),
            "erased_at": customer.erased_at.isoformat() if customer.erased_at else None,
        },
        "orders": [
            {
                "channel": order.channel,
                "number": order.number,
                "placed_at": order.placed_at.isoformat(),
                "status": order.status,
                "currency": order.currency,
                "total": str(order.total),
                "shipping_name": order.shipping_name,
                "shipping_city": order.shipping_city,
                "shipping_region": order.shipping_region,
                "shipping_postal_code": order.shipping_postal_code,
                "shipping_country": order.shipping_country,
                "lines": [
                    {
                        "sku": line.sku,
                        "title": line.title,
                        "quantity": line.quantity,
                        "unit_price": str(line.unit_price),
                    }
                    for line in order.lines.all()
                ],
            }
            for order in orders
        ],
        "messages": [
            {
                "channel": m.channel,
                "to": m.to,
                "subject": m.subject,
                "body": m.body,
                "status": m.status,
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            }
            for m in messages
        ],
        "inbound_messages": [
            {
                "channel": m.channel,
                "from": m.from_address,
                "subject": m.subject,
                "body": m.body,
                "received_at": m.received_at.isoformat(),
            }
            for m in inbound.order_by("received_at", "pk")
        ],
        "emails_received": [
            {
                "source": mail.source,
                "from": mail.from_address,
                "subject": mail.subject,
                "received_at": mail.received_at.isoformat(),
                "status": mail.status,
                "source_text": mail.raw,
            }
            for mail in emails
        ],
        "cases": [
            {"title": case.title, "kind": case.kind, "status": case.status, "opened_at": case.opened_at.isoformat()}
            for case in _cases(customer)
        ],
    }


def erase_customer(email: str, *, actor=None, reason: str = "erasure requested by the customer") -> AuditEvent:
    """Anonymise one customer's personal data (see the module's notes); returns the audit row."""
    with transaction.atomic():
        customer = find_customer(email)
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if customer.erased_at is not None:
            raise CustomerNotFound(f"Customer {customer.pk} was erased on {customer.erased_at:%Y-%m-%d}.")
        order_ids = list(Order.objects.filter(customer=customer).values_list("pk", flat=True))
        orders = Order.objects.filter(pk__in=order_ids)
        identifying, local = needles(customer, orders)
        # the emails they sent, by link first (what the scan by value then finds is a copy elsewhere)
        linked_mail = erase_inbound_mail(
            InboundMail.objects.filter(
                Q(inbound__customer=customer)
                | Q(inbound__order_id__in=order_ids)
                | Q(case__order_id__in=order_ids)
                | (Q(from_address__iexact=customer.email) if customer.email else Q(pk__in=[]))
            )
        )
        copies = scrub_related(customer, order_ids, Scrubber(identifying + local))
        copies |= scrub_everywhere(customer, Scrubber(identifying))
        external = [f"order:{x}" for x in orders.values_list("external_id", flat=True)]
        kept_packets = list(
            Packet.objects.filter(case__order_id__in=order_ids).order_by("pk").values_list("pk", flat=True)
        )
        counts = {
            "orders": orders.update(shipping_name="", shipping_city="", shipping_region="", shipping_postal_code=""),
            "messages": Message.objects.filter(Q(customer=customer) | Q(order_id__in=order_ids)).update(
                to=ERASED, body=ERASED, delivery_detail=ERASED
            ),
            "zendesk_tickets": _erase_tickets(order_ids),
            "inbound_messages": InboundMessage.objects.filter(Q(customer=customer) | Q(order_id__in=order_ids)).update(
                from_address=ERASED, body=ERASED
            ),
            "inbound_mail": linked_mail,
            "webhook_deliveries": WebhookDelivery.objects.filter(resource_id__in=external).update(
                body=ERASED_BODY, headers={}
            ),
            "shipments": Shipment.objects.filter(order_id__in=order_ids).update(destination_postal_code=""),
            "copies": {name: n for name, n in copies.items() if n},
        }
        customer.email = customer.name = customer.phone = customer.shopify_id = customer.woocommerce_id = ""
        customer.sms_opt_in = customer.phone_unreadable = False
        customer.erased_at = timezone.now()
        customer.save(
            update_fields=[
                "email",
                "name",
                "phone",
                "shopify_id",
                "woocommerce_id",
                "sms_opt_in",
                "phone_unreadable",
                "erased_at",
            ]
        )
        return AuditEvent.record(
            "customer.erased",
            actor=actor,
            obj=customer,
            summary=f"Customer {customer.pk}: personal data erased ({reason})",
            reason=reason,
            counts=counts,
            packets_kept=kept_packets,
        )


def _erase_tickets(order_ids: list[int]) -> int:
    """The kept copy of each ticket's comment (it names the customer); a ticket not yet opened is
    then sent with the erased comment."""
    tickets = list(ZendeskTicket.objects.select_for_update().filter(case__order_id__in=order_ids))
    for ticket in tickets:
        ticket.request.setdefault("ticket", {})["comment"] = {"body": ERASED, "public": False}
        ticket.save(update_fields=["request"])
    return len(tickets)
