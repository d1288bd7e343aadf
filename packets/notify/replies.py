"""Customer replies by email: kept raw, matched to their case, and read at once.

Every email that reaches the store (a provider's inbound webhook, or the IMAP mailbox) is first
stored as it arrived (``store``: an ``InboundMail`` row, one per Message-ID and source, so a
provider's retry or a mailbox read twice keeps one), then ``apply_reply(mail_id)`` runs on the
worker (``apply_received``, every two minutes, reads any whose enqueue was lost). It finds the case, in this order:

1. the signed reply address (``reply+<token>@REPLY_DOMAIN``) the email was sent to;
2. ``In-Reply-To`` / ``References`` naming a ``Message-ID`` we sent;
3. the sender's address: the customer's open case (the one we wrote to last, else the newest).

An email that answers no case but comes from a supplier (our chase or purchase order's reply
address or thread, else a supplier's address) is recorded as the supplier's evidence
(``packets.notify.supplier_replies``) and kept as not the customer's words.

An auto-reply or a bounce is kept, put beside its case when one matched, and never scored. A
person's reply becomes an ``InboundMessage`` on the case with its sentiment and intents, read from
their own words (the provider's quote-free text when it gives one, else the text without the
quoted message), and the case's packet is refreshed at once. When the words carry chargeback
risk, every automated customer message still waiting on that customer's open cases is held for
the owner. The case's reply clock starts (``Case.reply_due_at``, from the policy's hours) and
stops when a person's answer is sent. A reply that matches nothing waits on the "unmatched
replies" page, where a person attaches it to a case (``attach``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import getaddresses

from anymail.inbound import AnymailInboundMessage
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import strip_tags

from backorders.intake.common import q_options
from backorders.models import Customer, StorePolicy
from backorders.queueing import enqueue_stored
from backorders.roles import is_staff_member
from packets.integrations.outbound import case_updated
from packets.models import AuditEvent, Case, InboundMail, InboundMessage, Message
from packets.rules import sentiment
from packets.rules.replies import automated_reason, message_ids, reply_due, strip_quoted
from packets.sweep.refresh import refresh_after_commit

from . import supplier_replies
from .reply_address import message_of
from .supplier_replies import match_supplier

logger = logging.getLogger(__name__)

APPLY_TASK = "packets.notify.replies.apply_reply"
# customer messages a person has not yet let go, which a chargeback threat holds for the owner
WAITING = (Message.Status.DRAFT, Message.Status.APPROVED, Message.Status.QUEUED, Message.Status.FAILED)


def store(source: str, message: AnymailInboundMessage, *, fallback_id: str = "") -> InboundMail:
    """Keep the email as it arrived and queue its reading; the same email again returns the first row."""
    if message.envelope_sender is not None and "Return-Path" not in message:
        message["Return-Path"] = f"<{message.envelope_sender}>"
    message_id = (message.get("Message-ID") or fallback_id or "").strip()[:255]
    sender = message.from_email.addr_spec if message.from_email else ""
    fields = {
        "from_address": sender[:255],
        "subject": str(message.get("Subject") or "")[:255],
        "raw": message.as_string(),
        "stripped_text": message.stripped_text or "",
    }
    try:
        with transaction.atomic():
            if message_id:
                existing = InboundMail.objects.filter(source=source, message_id=message_id).first()
                if existing is not None:
                    return existing
            mail = InboundMail.objects.create(source=source, message_id=message_id, **fields)
            transaction.on_commit(lambda: _enqueue(mail.pk))
    except IntegrityError:  # the same email posted twice at once: the other post keeps it
        return InboundMail.objects.get(source=source, message_id=message_id)
    return mail


def _enqueue(mail_id: int) -> None:
    """Hand the stored email to the queue; when the broker cannot take it, ``apply_received`` will."""
    enqueue_stored(
        APPLY_TASK, mail_id, what=f"email reply {mail_id}", task_name=f"reply-{mail_id}", q_options=q_options()
    )


def apply_received(older_than_seconds: int = 60, limit: int = 500) -> int:
    """Read the stored emails still unread after a while (their enqueue was lost), oldest first.
    One that fails does not stop the others; the run then raises, naming them, so the queue records it."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        InboundMail.objects.filter(status=InboundMail.Status.RECEIVED, received_at__lt=cutoff)
        .exclude(source=InboundMail.Source.ZENDESK)  # read by packets.integrations.zendesk_comments
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    failed = []
    for mail_id in ids:
        try:
            apply_reply(mail_id)
        except Exception:
            logger.exception("Email reply %s failed while catching up", mail_id)
            failed.append(mail_id)
    if failed:
        raise RuntimeError(f"{len(failed)} stored email replies could not be read: {failed[:20]}")
    return len(ids)


def apply_reply(mail_id: int) -> str:
    """Read one stored email and put it on its case (the worker's task). Returns what happened."""
    with transaction.atomic():
        mail = InboundMail.objects.select_for_update().filter(pk=mail_id).first()
        if mail is None:
            return "no such email"
        if mail.status != InboundMail.Status.RECEIVED:
            return f"already read: {mail.get_status_display()}"
        if mail.source == InboundMail.Source.ZENDESK:
            return "not an email: a Zendesk comment, read by its own task"
        parsed = AnymailInboundMessage.parse_raw_mime(mail.raw)
        case, matched_by, note = match(parsed, mail.from_address)
        automated = automated_reason(parsed.items(), mail.from_address)
        if automated:
            mail.status, mail.case, mail.matched_by = InboundMail.Status.AUTOMATED, case, matched_by
            mail.note = f"Not scored: {automated}"[:500]
            mail.save(update_fields=["status", "case", "matched_by", "note"])
            return mail.note
        if case is None and (supplier := match_supplier(parsed, mail.from_address)) is not None:
            return supplier_replies.land(mail, supplier, words_of(mail, parsed))
        if case is None:
            mail.status, mail.note = InboundMail.Status.UNMATCHED, note[:500]
            mail.save(update_fields=["status", "note"])
            return f"unmatched: {note}"
        inbound = land(mail, parsed, case, matched_by, note)
    return f"on case {case.pk} ({matched_by}): {', '.join(inbound.intents) or 'no intents'}"


def match(parsed: AnymailInboundMessage, sender: str) -> tuple[Case | None, str, str]:
    """The case this email answers, how it was found, and why (or why nothing was)."""
    fields = [str(value) for name in ("To", "Cc", "Delivered-To") for value in parsed.get_all(name) or []]
    addresses = [addr for _, addr in getaddresses(fields)]
    for address in addresses:
        message_id = message_of(address)
        if message_id is not None:
            sent = Message.objects.select_related("case").filter(pk=message_id, case__isnull=False).first()
            if sent is not None:
                return sent.case, InboundMail.MatchedBy.REPLY_ADDRESS, f"sent to the reply address of message {sent.pk}"
    named = message_ids(parsed.get("In-Reply-To"), *(parsed.get_all("References") or []))
    if named:
        sent = (
            Message.objects.select_related("case")
            .filter(Q(email_message_id__in=named) | Q(provider_id__in=named), case__isnull=False)
            .order_by("-sent_at", "-pk")
            .first()
        )
        if sent is not None:
            return sent.case, InboundMail.MatchedBy.THREAD, f"answers message {sent.pk} (In-Reply-To/References)"
    customer = Customer.objects.filter(email__iexact=sender.strip()).order_by("pk").first() if sender else None
    if customer is None:
        return None, InboundMail.MatchedBy.NONE, "no message of ours named, and the sender is not a customer"
    cases = Case.objects.open().filter(order__customer=customer)
    case = (
        cases.filter(messages__audience=Message.Audience.CUSTOMER, messages__sent_at__isnull=False)
        .order_by("-messages__sent_at")
        .first()
    ) or cases.order_by("-opened_at", "-pk").first()
    if case is None:
        return None, InboundMail.MatchedBy.NONE, f"{sender} is a customer with no open case"
    return case, InboundMail.MatchedBy.CUSTOMER, f"from {sender}, whose open case it is"


def words_of(mail: InboundMail, parsed: AnymailInboundMessage | None) -> str:
    """The customer's own words: the provider's quote-free text, else the text without quotes."""
    if mail.stripped_text.strip() or parsed is None:
        return mail.stripped_text.strip()
    text = parsed.text or strip_tags(parsed.html or "")
    return strip_quoted(text)


def land(
    mail: InboundMail, parsed: AnymailInboundMessage | None, case: Case, matched_by: str, note: str
) -> InboundMessage:
    """The reply on its case, read; the packet refreshed once this commits (also for a reply that
    came by another way than email: ``parsed`` None, its words in ``mail.stripped_text``)."""
    body = words_of(mail, parsed)
    reading = sentiment.read_message(mail.subject, body)
    policy = StorePolicy.objects.current()
    order = case.order
    customer = (order.customer if order is not None else None) or Customer.objects.filter(
        email__iexact=mail.from_address
    ).first()
    inbound = InboundMessage.objects.create(
        case=case,
        customer=customer,
        order=order,
        channel=Message.Channel.EMAIL,
        from_address=mail.from_address,
        subject=mail.subject,
        body=body or "(no text)",
        received_at=mail.received_at,
        sentiment=reading.sentiment,
        intents=reading.intents,
        escalated=sentiment.should_escalate(
            reading,
            below=float(policy.escalate_below_sentiment),
            enabled=policy.escalate_negative_sentiment,
        ),
    )
    mail.status, mail.case, mail.inbound, mail.matched_by, mail.note = (
        InboundMail.Status.MATCHED,
        case,
        inbound,
        matched_by,
        note[:500],
    )
    mail.save(update_fields=["status", "case", "inbound", "matched_by", "note"])
    AuditEvent.record(
        "customer.replied",
        case=case,
        obj=inbound,
        summary=f"The customer replied ({mail.get_source_display()}: {note})"[:500],
        intents=reading.intents,
        sentiment=reading.sentiment,
    )
    _start_reply_clock(case, inbound, policy)
    if sentiment.CHARGEBACK in reading.intents and customer is not None:
        hold_automated(customer, case)
    case_updated(case, "message")
    refresh_after_commit(case.pk)
    return inbound


def _start_reply_clock(case: Case, inbound: InboundMessage, policy: StorePolicy) -> None:
    """The customer now waits for a person's answer, unless they already did (the earlier deadline stands)."""
    locked = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
    if locked.reply_due_at is not None:
        return
    first = not InboundMessage.objects.filter(case=case, received_at__lt=inbound.received_at).exists()
    locked.reply_due_at = reply_due(
        inbound.received_at,
        first=first,
        first_hours=policy.reply_first_hours,
        followup_hours=policy.reply_followup_hours,
    )
    locked.reply_overdue = False
    locked.save(update_fields=["reply_due_at", "reply_overdue", "updated_at"])
    case.reply_due_at, case.reply_overdue = locked.reply_due_at, False


def hold_automated(customer: Customer, case: Case) -> list[int]:
    """Hold every automated customer message still waiting on the customer's open cases for the
    owner: only the owner approves it now, and a standing approval no longer sends it."""
    waiting = (
        Message.objects.select_for_update(of=("self",))
        .filter(
            Q(case=case) | Q(case__in=Case.objects.open().filter(order__customer=customer)),
            audience=Message.Audience.CUSTOMER,
            status__in=WAITING,
            needs_owner=False,
        )
        .exclude(step="")
    )
    held = list(waiting.values_list("pk", "case_id"))
    Message.objects.filter(pk__in=[pk for pk, _ in held]).update(needs_owner=True)
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now,
            actor_label="system",
            action="message.held",
            case_id=case_id,
            object_type="packets.message",
            object_id=str(pk),
            summary="Held for the owner: the customer's reply carries chargeback risk",
        )
        for pk, case_id in held
    )
    return [pk for pk, _ in held]


def attach(mail_id: int, case_id: int, user) -> InboundMessage:
    """A person puts an unmatched reply on a case: it is read and lands as if it had matched.

    Refuses (``PermissionDenied``) a user without a staff role, and (``ValueError``) a reply that
    is no longer unmatched or a case that does not exist."""
    if not is_staff_member(user):
        raise PermissionDenied("Only the store's staff attach replies to cases.")
    with transaction.atomic():
        mail = InboundMail.objects.select_for_update().filter(pk=mail_id).first()
        if mail is None or mail.status != InboundMail.Status.UNMATCHED:
            raise ValueError("This reply is not waiting to be attached any more.")
        case = Case.objects.filter(pk=case_id).select_related("order__customer").first()
        if case is None:
            raise ValueError(f"There is no case {case_id}.")
        parsed = None if mail.source == InboundMail.Source.ZENDESK else AnymailInboundMessage.parse_raw_mime(mail.raw)
        name = user.get_full_name() or user.get_username()
        inbound = land(mail, parsed, case, InboundMail.MatchedBy.PERSON, f"attached by {name}")
        AuditEvent.record(
            "customer.reply_attached",
            actor=user,
            case=case,
            obj=inbound,
            summary=f"Attached an unmatched email reply to case {case.pk}",
        )
    return inbound
