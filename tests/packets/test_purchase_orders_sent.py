"""Purchase orders reach the supplier: approving one sends it by email with its PDF (through the
approved-message path and the worker) or records the supplier's portal; a confirmation (the
supplier's reply read from the inbound email path, or a person) sets the quote the ETA uses; and
supplier replies are matched to the supplier and kept as evidence."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from anymail.inbound import AnymailInboundMessage
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from packets.models import AuditEvent, InboundMail, Message
from packets.notify import replies
from packets.notify.purchase_orders import confirm_purchase_order, record_portal_submission
from packets.notify.reply_address import reply_address
from packets.notify.tasks import send_message
from packets.supplier_followup import approve_purchase_order
from suppliers.eta import customer_range
from suppliers.models import PurchaseOrder, SupplierUpdate
from tests import factories
from tests.loopback import loopback_smtp  # noqa: F401

pytestmark = [pytest.mark.postgres]


def proposal(**supplier) -> PurchaseOrder:
    supplier = factories.SupplierFactory(name="Copperline Goods", contact_name="Ines", **supplier)
    po = factories.PurchaseOrderFactory(
        supplier=supplier, reference="PROP-COPPER-1A2B3C", status=PurchaseOrder.Status.PROPOSED
    )
    for sku, quantity, cost in [("KETTLE-COPPER-2L", 4, "58.00"), ("MUG-ENAMEL-RED", 12, "6.50")]:
        product = factories.ProductFactory(sku=sku, on_hand=0)
        factories.SupplierSourceFactory(supplier=supplier, product=product, supplier_sku=f"CG-{sku[:6]}")
        factories.PurchaseOrderLineFactory(purchase_order=po, product=product, quantity=quantity, unit_cost=cost)
    return po


def pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "po.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout


@pytest.mark.django_db(transaction=True)
def test_an_approved_purchase_order_reaches_the_supplier_by_email_with_its_pdf(
    loopback_smtp,  # noqa: F811
    settings,
    owner,
    tmp_path,
):
    settings.REPLY_DOMAIN = "replies.shop.example.com"
    po = proposal(email="orders@copperline.example")

    approve_purchase_order(po.pk, owner)
    message = Message.objects.get(idempotency_key=f"purchase-order:{po.pk}")
    assert message.status == "queued" and OrmQ.objects.count() == 1  # handed to the worker's queue
    assert send_message(message.pk).startswith("sent as")  # what the worker runs

    [mail] = loopback_smtp.messages
    assert mail.rcpt_tos == ["orders@copperline.example"]
    assert mail.message["Subject"].startswith("Purchase order PROP-COPPER-1A2B3C")
    [attachment] = [part for part in mail.message.walk() if part.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == "PROP-COPPER-1A2B3C.pdf"
    text = pdf_text(attachment.get_payload(decode=True), tmp_path)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert any(line.startswith("KETTLE-COPPER-2L CG-KETTLE") and " 4 58.00 232.00" in line for line in lines)
    assert any(line.startswith("MUG-ENAMEL-RED CG-MUG-EN") and " 12 6.50 78.00" in line for line in lines)
    assert any("TOTAL 310.00" in line.upper() for line in lines)

    po.refresh_from_db()
    message.refresh_from_db()
    assert (message.status, message.approved_by, message.audience) == ("sent", owner, "supplier")
    assert (po.status, po.sent_via, po.sent_to, po.approved_by) == ("sent", "email", "orders@copperline.example", owner)
    assert po.sent_at is not None and po.approved_at is not None
    sent = AuditEvent.objects.get(action="purchase_order.sent", object_id=str(po.pk))
    assert "approved by Olivia Owner" in sent.summary
    assert mail.message["Reply-To"] == reply_address(message.pk)


@pytest.mark.django_db
def test_a_supplier_on_a_portal_gets_its_address_recorded_and_a_person_records_the_submission(owner):
    po = proposal(email="", portal_url="https://portal.copperline.example/orders")
    with_portal = approve_purchase_order(po.pk, owner)
    po.refresh_from_db()
    assert not Message.objects.filter(supplier=po.supplier).exists()
    assert (po.status, po.sent_via, po.sent_to, po.approved_by) == (
        "approved",
        "portal",
        "https://portal.copperline.example/orders",
        owner,
    )
    assert with_portal.sent_at is None
    assert record_portal_submission(po, owner).status == "sent"


@pytest.mark.django_db
def test_a_confirmation_recorded_by_a_person_becomes_the_quote_the_eta_uses(owner, policy):
    po = proposal(email="", portal_url="")
    approve_purchase_order(po.pk, owner)
    product = po.lines.first().product
    today = timezone.localdate()
    assert customer_range(product, today=today, policy=policy).rolling  # no quote yet: counted from today

    arrives_on = today + timedelta(days=18)
    confirm_purchase_order(po, arrives_on=arrives_on, user=owner, text="Confirmed by phone for the 20th")

    eta = customer_range(product, today=today, policy=policy)
    assert not eta.rolling and po.reference in eta.basis
    assert eta.start - timedelta(days=4) <= arrives_on <= eta.end + timedelta(days=4)
    po.refresh_from_db()
    assert (po.quoted_at, po.confirmed_by, po.confirmation_text) == (
        arrives_on,
        owner,
        "Confirmed by phone for the 20th",
    )


def supplier_email(*, sender: str, to: str, body: str, **headers: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = f"Ines at Copperline <{sender}>"
    email["To"] = to
    email["Subject"] = "Re: Purchase order PROP-COPPER-1A2B3C"
    email["Message-ID"] = headers.pop("message_id", "<supplier-reply-1@copperline.example>")
    for name, value in headers.items():
        email[name.replace("_", "-")] = value
    email.set_content(f"{body}\n\nOn Mon, Dec 7, 2026 Shop wrote:\n> Please find our purchase order attached.\n")
    return email


def receive(email: EmailMessage, settings) -> InboundMail:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    mail = replies.store("imap", AnymailInboundMessage.parse_raw_mime_bytes(email.as_bytes()))
    mail.refresh_from_db()
    return mail


@pytest.mark.django_db(transaction=True)
def test_the_supplier_s_reply_to_the_purchase_order_confirms_it_and_is_kept_as_evidence(settings, owner, policy):
    settings.REPLY_DOMAIN = "replies.shop.example.com"
    po = proposal(email="orders@copperline.example")
    approve_purchase_order(po.pk, owner)  # queued: the broker (not running here) would send it
    message = Message.objects.get(idempotency_key=f"purchase-order:{po.pk}")

    arrives_on = timezone.localdate() + timedelta(days=20)
    words = f"Confirmed, PROP-COPPER-1A2B3C will be delivered on {arrives_on:%Y-%m-%d}."
    mail = receive(supplier_email(sender="ines@elsewhere.example", to=reply_address(message.pk), body=words), settings)

    assert (mail.status, mail.matched_by, mail.case_id) == ("not_customer", "reply_address", None)
    assert (
        "From supplier Copperline Goods" in mail.note
        and f"confirms PROP-COPPER-1A2B3C for {arrives_on:%b %-d}" in mail.note
    )
    update = SupplierUpdate.objects.get(supplier=po.supplier)
    assert update.source_text == words and update.strength == "confirmed"
    po.refresh_from_db()
    assert po.quoted_at == arrives_on and po.confirmed_at == mail.received_at and po.confirmed_by is None
    eta = customer_range(po.lines.first().product, today=timezone.localdate(), policy=policy)
    assert po.reference in eta.basis and not eta.rolling


@pytest.mark.django_db(transaction=True)
def test_a_reply_to_our_chase_is_matched_by_its_thread_and_recorded_as_evidence(settings):
    supplier = factories.SupplierFactory(name="Copperline Goods", email="orders@copperline.example")
    chase = factories.MessageFactory(
        supplier=supplier,
        audience=Message.Audience.SUPPLIER,
        to=supplier.email,
        status=Message.Status.SENT,
        approved_at=datetime(2026, 3, 1, tzinfo=UTC),
        sent_at=datetime(2026, 3, 1, tzinfo=UTC),
        email_message_id="<supplier-chase.7@shop.example.com>",
    )
    words = "Sorry for the silence: we are out of stock, hopefully back in a couple of weeks."
    email = supplier_email(
        sender="warehouse@copperline-logistics.example",
        to="orders@shop.example.com",
        body=words,
        In_Reply_To=chase.email_message_id,
    )
    mail = receive(email, settings)
    assert (mail.status, mail.matched_by) == ("not_customer", "thread")
    update = SupplierUpdate.objects.get(supplier=supplier)
    assert (update.stock_status, update.strength, update.source_text) == ("out_of_stock", "weak", words)


@pytest.mark.django_db(transaction=True)
def test_an_email_from_a_supplier_s_address_is_matched_to_it(settings):
    supplier = factories.SupplierFactory(name="Copperline Goods", email="orders@copperline.example")
    mail = receive(
        supplier_email(sender="ORDERS@copperline.example", to="orders@shop.example.com", body="In stock again."),
        settings,
    )
    assert mail.status == "not_customer" and "orders@copperline.example" in mail.note.lower()
    assert SupplierUpdate.objects.get(supplier=supplier).stock_status == "in_stock"


@pytest.mark.django_db(transaction=True)
def test_an_unknown_sender_is_not_matched_to_a_supplier(settings):
    factories.SupplierFactory(name="Copperline Goods", email="orders@copperline.example")
    mail = receive(
        supplier_email(sender="someone@unknown.example", to="orders@shop.example.com", body="In stock again."),
        settings,
    )
    assert mail.status == "unmatched"
    assert not SupplierUpdate.objects.exists()


@pytest.mark.django_db
def test_staff_record_a_confirmation_and_a_portal_submission_from_the_weekly_review(owner, support_client):
    by_email = proposal(email="orders@copperline.example")
    approve_purchase_order(by_email.pk, owner)
    portal_supplier = factories.SupplierFactory(name="Portal Parts", email="", portal_url="https://portal.example/po")
    on_portal = factories.PurchaseOrderFactory(supplier=portal_supplier, status=PurchaseOrder.Status.PROPOSED)
    factories.PurchaseOrderLineFactory(purchase_order=on_portal)
    approve_purchase_order(on_portal.pk, owner)

    page = support_client.get(reverse("packets:review-weekly")).content.decode()
    assert "waiting for the supplier's confirmation" in page
    assert "Email queued to orders@copperline.example" in page and "Submitted on the portal" in page

    url = reverse("packets:purchase-order-confirm", args=[by_email.pk])
    refused = support_client.post(url, {"arrives_on": "next week"})
    assert refused.status_code == 400 and b"YYYY-MM-DD" in refused.content
    arrives_on = timezone.localdate() + timedelta(days=12)
    assert support_client.post(url, {"arrives_on": arrives_on.isoformat(), "words": "Yes, by phone"}).status_code == 302
    by_email.refresh_from_db()
    assert (by_email.quoted_at, by_email.confirmation_text) == (arrives_on, "Yes, by phone")

    submitted = support_client.post(reverse("packets:purchase-order-submitted", args=[on_portal.pk]))
    assert submitted.status_code == 302
    on_portal.refresh_from_db()
    assert on_portal.status == "sent" and on_portal.sent_at is not None
    assert support_client.post(reverse("packets:purchase-order-submitted", args=[on_portal.pk])).status_code == 409
