"""A store that wrote to a customer, for the reply tests: an order waiting on a kettle the supplier is
out of, its case made by the sweep, the update we sent (with its Message-ID), an automated draft
waiting for approval and an automated update approved by the policy's standing approval, queued."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage

from django.utils import timezone

from backorders.models import OrderLine
from packets.models import Case, Message
from packets.sweep import run_sweep
from tests import factories

CUSTOMER_EMAIL = "Marguerite.Oduya@example.net"
SENT_MESSAGE_ID = "<cadence.update.1@shop.example.com>"
THREAT = "This is a scam, I'm disputing it with my bank, call me"


def store_that_wrote(*, email: str = CUSTOMER_EMAIL) -> dict:
    now = timezone.now()
    supplier = factories.SupplierFactory(name="Copperline Goods")
    kettle = factories.ProductFactory(on_hand=0, price=Decimal("129.00"))
    factories.SupplierSourceFactory(supplier=supplier, product=kettle, unit_cost=Decimal("58.00"))
    factories.SupplierUpdateFactory(supplier=supplier, product=kettle, received_at=now - timedelta(days=1))
    customer = factories.CustomerFactory(name="Marguerite Oduya", email=email)
    order = factories.OrderFactory(
        customer=customer, placed_at=now - timedelta(days=3), promised_ship_by=(now - timedelta(days=1)).date()
    )
    line = factories.OrderLineFactory(order=order, product=kettle, quantity=1, state=OrderLine.State.BACKORDERED)
    run_sweep()
    case = Case.objects.get(dedupe_key=f"backorder:order:{order.pk}")
    sent = factories.MessageFactory(
        case=case,
        order=order,
        order_line=line,
        customer=customer,
        to=email,
        step="update_48h",
        status=Message.Status.SENT,
        approved_at=now - timedelta(hours=2),
        sent_at=now - timedelta(hours=2),
        email_message_id=SENT_MESSAGE_ID,
        provider_id="pm-0001",
    )
    draft = factories.MessageFactory(case=case, order=order, customer=customer, to=email, step="update_weekly")
    queued = factories.MessageFactory(
        case=case,
        order=order,
        customer=customer,
        to=email,
        step="update_renewal",
        status=Message.Status.QUEUED,
        standing_approval=True,
        approved_at=now,
        queued_at=now,
    )
    return {"customer": customer, "order": order, "case": case, "sent": sent, "draft": draft, "queued": queued}


def reply_email(*, to: str, sender: str = CUSTOMER_EMAIL, body: str = THREAT, **headers: str) -> EmailMessage:
    """A customer's reply as their mail program writes it: their words above our quoted update."""
    email = EmailMessage()
    email["From"] = f"Marguerite Oduya <{sender}>"
    email["To"] = to
    email["Subject"] = "Re: An update on your order"
    email["Message-ID"] = headers.pop("message_id", "<reply-1@mail.example.net>")
    for name, value in headers.items():
        email[name.replace("_", "-")] = value
    email.set_content(
        f"{body}\n\nOn Mon, Dec 7, 2026 at 9:00 AM Shop <orders@shop.example.com> wrote:\n"
        "> Thank you for waiting. We are glad to say your order is on its way soon.\n"
    )
    return email
