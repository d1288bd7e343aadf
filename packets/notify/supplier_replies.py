"""Supplier replies by email: matched to the supplier, recorded as evidence, and confirmations read.

An inbound email that answers no customer case (``packets.notify.replies.apply_reply``) may be a
supplier's answer to our chase or to a purchase order. It is matched, in the customer replies'
order: the signed reply address of a message we sent a supplier; ``In-Reply-To`` /
``References`` naming one; then the sender being a supplier's known address. The supplier's own
words become a ``SupplierUpdate`` through ``suppliers.evidence.record_update``, classified like
pasted evidence. When the email answers a purchase order (its message, or the order's reference
in the words) and gives a date, the order is confirmed for it: its quote, which the ETA uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

from anymail.inbound import AnymailInboundMessage
from django.core.exceptions import ValidationError
from django.db.models import Q

from packets.models import InboundMail, Message
from packets.rules.replies import message_ids
from suppliers.evidence import record_update
from suppliers.models import PurchaseOrder, Supplier, SupplierUpdate

from .purchase_orders import confirm_purchase_order, purchase_order_of
from .reply_address import message_of

CONFIRMABLE = (PurchaseOrder.Status.APPROVED, PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIAL)
NO_DATE = (SupplierUpdate.StockStatus.DISCONTINUED, SupplierUpdate.StockStatus.VARIANT_MISSING)


@dataclass(frozen=True)
class SupplierMatch:
    supplier: Supplier
    message: Message | None  # the message of ours it answers, when it names one
    matched_by: str
    note: str


def match_supplier(parsed: AnymailInboundMessage, sender: str) -> SupplierMatch | None:
    """The supplier this email comes from, and how that was found; None for anyone else."""
    ours = Message.objects.select_related("supplier").filter(supplier__isnull=False, case__isnull=True)
    fields = [str(value) for name in ("To", "Cc", "Delivered-To") for value in parsed.get_all(name) or []]
    for _, address in getaddresses(fields):
        message_id = message_of(address)
        sent = ours.filter(pk=message_id).first() if message_id is not None else None
        if sent is not None:
            note = f"sent to the reply address of message {sent.pk} to {sent.supplier.name}"
            return SupplierMatch(sent.supplier, sent, InboundMail.MatchedBy.REPLY_ADDRESS, note)
    named = message_ids(parsed.get("In-Reply-To"), *(parsed.get_all("References") or []))
    if named:
        sent = ours.filter(Q(email_message_id__in=named) | Q(provider_id__in=named)).order_by("-sent_at", "-pk").first()
        if sent is not None:
            note = f"answers message {sent.pk} to {sent.supplier.name} (In-Reply-To/References)"
            return SupplierMatch(sent.supplier, sent, InboundMail.MatchedBy.THREAD, note)
    address = sender.strip()
    supplier = Supplier.objects.filter(email__iexact=address).order_by("pk").first() if address else None
    if supplier is not None:
        return SupplierMatch(supplier, None, InboundMail.MatchedBy.NONE, f"from {address}, {supplier.name}'s address")
    return None


def _purchase_order(found: SupplierMatch, words: str) -> PurchaseOrder | None:
    po = purchase_order_of(found.message) if found.message is not None else None
    if po is not None:
        return po
    for candidate in PurchaseOrder.objects.filter(supplier=found.supplier, status__in=CONFIRMABLE).order_by("-pk"):
        if re.search(rf"(?<![\w-]){re.escape(candidate.reference)}(?![\w-])", words, re.IGNORECASE):
            return candidate
    return None


def land(mail: InboundMail, found: SupplierMatch, words: str) -> str:
    """Record the supplier's words as evidence (inside ``apply_reply``'s transaction). Returns what happened."""
    try:
        update = record_update(found.supplier, words, received_at=mail.received_at)
    except ValidationError as exc:
        update, outcome = None, f"not recorded: {' '.join(exc.messages)}"
    else:
        outcome = f"recorded as evidence {update.pk} ({update.get_kind_display().lower()}, {update.strength})"
    po = _purchase_order(found, words) if update is not None else None
    arrives_on = (update.restock_to or update.restock_from) if update is not None else None
    if po is not None and arrives_on and update.stock_status not in NO_DATE and po.status in CONFIRMABLE:
        confirm_purchase_order(po, arrives_on=arrives_on, text=words, at=mail.received_at)
        outcome += f"; confirms {po.reference} for {arrives_on:%b %-d}"
    mail.status, mail.matched_by = InboundMail.Status.NOT_CUSTOMER, found.matched_by
    mail.note = f"From supplier {found.supplier.name} ({found.note}): {outcome}"[:500]
    mail.save(update_fields=["status", "matched_by", "note"])
    return mail.note
