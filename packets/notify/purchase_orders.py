"""Purchase orders that reach the supplier, and the confirmations that come back.

Approving a proposed purchase order (``packets.supplier_followup.approve_purchase_order``) calls
``send_purchase_order``: with the supplier's email address and email set up, an email carrying
the order as a PDF (rendered by WeasyPrint with the locked fetcher, as packet PDFs are) becomes an
outbound ``Message``, approved by the owner who approved the order and queued for the worker like
any approved message; the order is *sent* once the mail server took it (``message_sent``). A
supplier that takes orders on its portal gets the portal's address recorded as the place to
submit it. Either way the order records who approved it and where it went.

A confirmation (``confirm_purchase_order``): the supplier's reply read from the inbound email
path (``packets.notify.supplier_replies``), or a person recording it, sets the arrival date the
supplier quoted, which is the quote the ETA ranges start from.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backorders.calendar import BusinessCalendar
from packets.audit.pdf import render_pdf
from packets.models import AuditEvent, Message
from suppliers.models import PurchaseOrder, SupplierSource

from . import channels
from .messaging import enqueue_send

KEY_PREFIX = "purchase-order:"


def message_key(po: PurchaseOrder) -> str:
    return f"{KEY_PREFIX}{po.pk}"


def purchase_order_of(message: Message) -> PurchaseOrder | None:
    """The purchase order an outbound message carries, if it carries one."""
    if not message.idempotency_key.startswith(KEY_PREFIX):
        return None
    pk = message.idempotency_key[len(KEY_PREFIX) :]
    return PurchaseOrder.objects.filter(pk=int(pk)).select_related("supplier").first() if pk.isdigit() else None


def _rows(po: PurchaseOrder) -> tuple[list[dict], Decimal]:
    theirs = dict(
        SupplierSource.objects.filter(supplier_id=po.supplier_id, product__purchase_order_lines__purchase_order=po)
        .values_list("product_id", "supplier_sku")
        .distinct()
    )
    rows = []
    for line in po.lines.select_related("product").order_by("product__sku"):
        total = line.unit_cost * line.quantity
        rows.append(
            {
                "sku": line.product.sku,
                "supplier_sku": theirs.get(line.product_id, ""),
                "title": line.product.display_title,
                "quantity": line.quantity,
                "unit_cost": line.unit_cost,
                "total": total,
            }
        )
    return rows, sum((row["total"] for row in rows), Decimal("0.00"))


def purchase_order_pdf(po: PurchaseOrder) -> bytes:
    rows, total = _rows(po)
    approved = po.approved_at or timezone.now()
    return render_pdf(
        "packets/pdf/purchase_order.html",
        {
            "po": po,
            "rows": rows,
            "total": total,
            "store_name": settings.STORE_NAME,
            "approved_on": BusinessCalendar().local_date(approved),
        },
        styled=True,  # the print stylesheet, as packet PDFs have it
    )


def attachments(message: Message) -> list[tuple[str, bytes, str]]:
    """What an outbound email carries besides its text: a purchase order's PDF."""
    po = purchase_order_of(message)
    if po is None:
        return []
    return [(f"{po.reference}.pdf", purchase_order_pdf(po), "application/pdf")]


def _body(po: PurchaseOrder, rows: list[dict], total: Decimal) -> str:
    supplier = po.supplier
    greeting = f"Hello {supplier.contact_name}," if supplier.contact_name else "Hello,"
    lines = "\n".join(
        f"- {row['sku']}{' (your ref. ' + row['supplier_sku'] + ')' if row['supplier_sku'] else ''}, "
        f"{row['title']}: {row['quantity']} x {row['unit_cost']}"
        for row in rows
    )
    return (
        f"{greeting}\n\nPlease find our purchase order {po.reference} attached (PDF), total {total}:\n\n{lines}\n\n"
        "Could you confirm it by replying to this email, with the date you expect it to reach us?\n\nThank you."
    )


def send_purchase_order(po: PurchaseOrder, user, now: datetime | None = None) -> Message | None:
    """Send an approved purchase order (inside the approval's transaction). Returns the email, or
    None when it goes by the supplier's portal or no way to send it is on file."""
    now = now or timezone.now()
    supplier = po.supplier
    po.approved_by, po.approved_at = user, now
    fields = ["approved_by", "approved_at"]
    message = None
    if supplier.email and channels.ready(channels.EMAIL):
        rows, total = _rows(po)
        message = Message.objects.create(
            supplier=supplier,
            audience=Message.Audience.SUPPLIER,
            channel=Message.Channel.EMAIL,
            to=supplier.email,
            subject=f"Purchase order {po.reference} from {settings.STORE_NAME}",
            body=_body(po, rows, total),
            idempotency_key=message_key(po),
            created_at=now,
        )
        message.set_status(
            Message.Status.APPROVED,
            actor=user,
            reason="Approved with its purchase order",
            approved_by=user,
            approved_at=now,
        )
        message.set_status(Message.Status.QUEUED, actor=user, reason="Queued for sending", queued_at=now)
        transaction.on_commit(lambda: enqueue_send(message.pk))
        po.sent_via, po.sent_to = PurchaseOrder.SentVia.EMAIL, supplier.email
        summary = f"{po.reference} queued to {supplier.email} with its PDF"
    elif supplier.portal_url:
        po.sent_via, po.sent_to = PurchaseOrder.SentVia.PORTAL, supplier.portal_url
        summary = f"{po.reference} is to be submitted on {supplier.name}'s portal: {supplier.portal_url}"
    else:
        summary = f"{po.reference}: {supplier.name} has no email address or portal on file; send it by hand"
    po.save(update_fields=[*fields, "sent_via", "sent_to"])
    AuditEvent.record("purchase_order.sending", actor=user, obj=po, summary=summary[:500])
    return message


def message_sent(message: Message) -> None:
    """The mail server took a purchase order's email: the order is sent (inside the send's transaction)."""
    po = purchase_order_of(message)
    if po is None:
        return
    locked = PurchaseOrder.objects.select_for_update().get(pk=po.pk)
    if locked.status == PurchaseOrder.Status.APPROVED:
        locked.status = PurchaseOrder.Status.SENT
    locked.sent_at = message.sent_at or timezone.now()
    locked.save(update_fields=["status", "sent_at"])
    AuditEvent.record(
        "purchase_order.sent",
        obj=locked,
        summary=f"{locked.reference} sent to {message.to} (approved by {_name(locked.approved_by)})"[:500],
    )


def record_portal_submission(po: PurchaseOrder, user) -> PurchaseOrder:
    """A person submitted the order on the supplier's portal: it is sent."""
    with transaction.atomic():
        locked = PurchaseOrder.objects.select_for_update().get(pk=po.pk)
        if locked.status == PurchaseOrder.Status.APPROVED:
            locked.status = PurchaseOrder.Status.SENT
        locked.sent_at = timezone.now()
        locked.save(update_fields=["status", "sent_at"])
        AuditEvent.record("purchase_order.sent", actor=user, obj=locked, summary=f"Submitted on {locked.sent_to}"[:500])
    return locked


def confirm_purchase_order(
    po: PurchaseOrder, *, arrives_on: date, user=None, text: str = "", at: datetime | None = None
) -> PurchaseOrder:
    """The supplier confirmed the order for ``arrives_on``: that is now its quote, which the ETA uses."""
    with transaction.atomic():
        locked = PurchaseOrder.objects.select_for_update().get(pk=po.pk)
        if locked.status in (PurchaseOrder.Status.CANCELLED, PurchaseOrder.Status.RECEIVED):
            raise ValueError(f"{locked.reference} is {locked.get_status_display().lower()}: nothing to confirm.")
        old = locked.quoted_at
        locked.quoted_at = arrives_on
        locked.confirmed_at = at or timezone.now()
        locked.confirmed_by = user if getattr(user, "is_authenticated", False) else None
        locked.confirmation_text = text[:5000]
        locked.save(update_fields=["quoted_at", "confirmed_at", "confirmed_by", "confirmation_text"])
        who = _name(locked.confirmed_by) if locked.confirmed_by else "the supplier's email"
        AuditEvent.record(
            "purchase_order.confirmed",
            actor=user if locked.confirmed_by else None,
            obj=locked,
            summary=f"{locked.reference} confirmed for {arrives_on:%b %-d} ({who}; quote was {old or 'none'})"[:500],
        )
    return locked


def _name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else "nobody"
