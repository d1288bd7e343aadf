"""Drafts people ask for and change: a decision that tells the customer something, an edit, a reply.

* ``draft_for_decision``: an approved "message customer" drafts an update from the packet (a
  stale-tracking case gets what we know, what we are doing and when we write again); an approved
  "offer replacement" drafts the offer (which item, what it costs the customer, that they must
  agree: reply yes, or cancel with the link). ``draft_offer`` drafts it before the decision, so
  the person accepting sees the offer they approve. Each once: a pending draft of the step stands.
* ``edit_draft``: a person changes a draft's subject and body before approval; the audit row keeps
  the text before and after, and the guideline issues are read again on the new text.
* ``reply``: a new draft to the customer from the case page.
* ``check_text``: the guideline issues a text would have as a draft of a message (the live check).

Every draft passes ``guidelines`` as any other does; none is sent without approval
(``messaging.approve_message``). Each verb owns its transaction, locks what it changes, checks the
role and audits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from backorders.formats.money import format_money
from backorders.formats.text import product_name
from backorders.models import Product, StorePolicy
from backorders.roles import is_staff_member
from packets.models import AuditEvent, Case, Decision, Message
from packets.notify import drafting
from packets.notify.links import customer_link
from packets.notify.messaging import NoLongerADraft, current_issues, no_longer_a_draft

UPDATE = "update"  # "message customer" on a backorder or stockout case
TRACKING_UPDATE = drafting.TRACKING_UPDATE  # "message customer" on a stale-tracking case
OFFER = drafting.REPLACEMENT_OFFER
REPLY = drafting.REPLY
TRACKING_REPLY = drafting.TRACKING_REPLY
# When the next update is due after a drafted one, in days (the playbook's day 2-3 rhythm).
NEXT_WRITE_DAYS = 3
SUBJECT_MAX = 255
BODY_MAX = 5000
PENDING = (Message.Status.DRAFT, Message.Status.APPROVED, Message.Status.QUEUED)
OFFER_LABEL = re.compile(r"^Offer (\S+) \(")


@dataclass(frozen=True)
class Offer:
    """The replacement an offer names and what it costs the customer (zero or more)."""

    product: Product
    extra: Decimal  # what the customer pays on top; zero when it costs them nothing more


def _require_staff(user) -> None:
    if not is_staff_member(user):
        raise PermissionDenied("Only the store's owner and support staff write to customers.")


def _address(case: Case) -> tuple[str, str] | None:
    from packets.notify.cadence import preferred_channel

    order = case.order
    return preferred_channel(order.customer) if order is not None else None


def _waiting_line(case: Case):
    if case.order_id is None:
        return None
    lines = sorted(case.order.lines.all(), key=lambda line: line.pk)  # prefetched by a batch
    for line in lines:
        if case.product_id and line.product_id == case.product_id:
            return line
    return lines[0] if lines else None


def _context(case: Case, line) -> dict:
    order = case.order
    customer = order.customer
    name = (customer.name if customer else "").strip()
    product = ""
    if line is not None:
        product = product_name(line.title, line.product.variant_title) if line.title else line.product.display_title
    return {
        "store_name": settings.STORE_NAME,
        "first_name": name.split()[0] if name else "there",
        "order_number": order.number,
        "product": product or "your item",
        "link": customer_link(order),
        "next_days": NEXT_WRITE_DAYS,
        "category": case.category,
        "carrier": case.shipment.carrier if case.shipment_id else "",
        "tracking_number": case.shipment.tracking_number if case.shipment_id else "",
    }


def replacement_offer(case: Case, packet_content: dict) -> Offer | None:
    """The first replacement the packet offers, as the store sells it now (None when it offers none)."""
    line = _waiting_line(case)
    for option in packet_content.get("options") or []:
        if option.get("action") != Decision.Action.OFFER_REPLACEMENT:
            continue
        found = OFFER_LABEL.match(option.get("label") or "")
        sku = option.get("sku") or (found.group(1) if found else "")
        product = Product.objects.filter(sku=sku).first() if sku else None
        if product is None or line is None:
            continue
        extra = max(Decimal("0"), (product.price - line.unit_price) * line.quantity)
        return Offer(product=product, extra=extra)
    return None


def _render(step: str, case: Case, *, offer: Offer | None = None, channel: str = "email") -> tuple[str, str]:
    line = _waiting_line(case)
    context = _context(case, line)
    number = case.order.number
    if step == OFFER:
        context["replacement"] = offer.product.display_title
        currency = case.order.currency or settings.STORE_CURRENCY
        context["extra"] = format_money(offer.extra, currency) if offer.extra else ""
        subject = f"Order {number}: an item we can send instead"
    elif step == TRACKING_UPDATE:
        subject = f"Order {number}: about your parcel"
    else:
        subject = f"Order {number}: an update on your order"
    context["sms"] = channel == Message.Channel.SMS
    body = render_to_string(f"packets/messages/{step}.txt", context).strip()
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(part.rstrip() for part in body.splitlines()))
    if channel == Message.Channel.SMS:
        body = " ".join(body.split())
    return subject, body


def _new_draft(case: Case, step: str, subject: str, body: str, *, key: str, actor) -> Message | None:
    """A customer draft on the case, its issues read; None when the customer cannot be written to."""
    address = _address(case)
    if address is None:
        return None
    channel, to = address
    policy = StorePolicy.objects.current()
    order = case.order
    # a stale parcel's messages are about the order, not a waiting line: the cadence leaves them be
    line = None if case.kind == Case.Kind.STALE_TRACKING else _waiting_line(case)
    message = Message(
        case=case,
        order=order,
        order_line=line,
        customer=order.customer,
        channel=channel,
        audience=Message.Audience.CUSTOMER,
        step=step,
        to=to,
        subject=subject if channel == Message.Channel.EMAIL else "",
        body=body,
        idempotency_key=key,
        needs_owner=order.customer.is_vip(policy)
        or order.total >= policy.high_value_order
        or customer_on_watch(order.customer_id),
    )
    message.guideline_issues = current_issues(message, policy)
    message.save()
    AuditEvent.record(
        "message.drafted", actor=actor, case=case, obj=message, summary=f"Drafted: {subject or step}", step=step
    )
    return message


def on_watch_cases():
    """Open cases on chargeback watch: their customer's drafts are held for the owner."""
    return Case.objects.open().filter(risk_level=Case.Risk.CHARGEBACK_WATCH)


def customer_on_watch(customer_id: int | None) -> bool:
    """Whether any open case of this customer is on chargeback watch (their drafts go to the owner)."""
    return customer_id is not None and on_watch_cases().filter(order__customer_id=customer_id).exists()


def _pending(case: Case, step: str) -> Message | None:
    return case.messages.filter(step=step, status__in=PENDING, audience=Message.Audience.CUSTOMER).first()


def draft_for_decision(decision: Decision, case: Case, actor) -> Message | None:
    """The customer draft an approved decision calls for (None for decisions that tell nobody, or
    when the customer cannot be written to). Called inside the approving transaction."""
    if case.order_id is None:
        return None
    if decision.action == Decision.Action.OFFER_REPLACEMENT:
        return _draft_offer(case, decision.packet.content or {}, actor)
    if decision.action != Decision.Action.MESSAGE_CUSTOMER:
        return None
    step = TRACKING_UPDATE if case.kind == Case.Kind.STALE_TRACKING else UPDATE
    existing = _pending(case, step)
    if existing is not None:
        return existing
    address = _address(case)
    subject, body = _render(step, case, channel=address[0] if address else "email")
    return _new_draft(case, step, subject, body, key=f"decision:{decision.pk}:{step}", actor=actor)


def _draft_offer(case: Case, content: dict, actor) -> Message | None:
    existing = _pending(case, OFFER)
    if existing is not None:
        return existing
    offer = replacement_offer(case, content)
    if offer is None:
        return None
    address = _address(case)
    subject, body = _render(OFFER, case, offer=offer, channel=address[0] if address else "email")
    key = f"offer:{case.pk}:{offer.product.pk}:{timezone.now():%Y%m%d%H%M%S%f}"
    return _new_draft(case, OFFER, subject, body, key=key, actor=actor)


def draft_offer(case_id: int, user) -> Message:
    """Draft the replacement offer the case's packet recommends, before anyone decides, so the
    person accepting the recommendation reads the offer they approve."""
    _require_staff(user)
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",)).select_related("order__customer", "shipment").get(pk=case_id)
        )
        packet = case.packets.order_by("-version").first()
        if not case.is_open or packet is None:
            raise ValidationError("This case has no open packet to offer from.")
        message = _draft_offer(case, packet.content or {}, user)
        if message is None:
            raise ValidationError("The packet offers no replacement in stock, or the customer cannot be written to.")
    return message


def _clean(subject: str, body: str, channel: str) -> tuple[str, str]:
    subject, body = (subject or "").strip(), (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError("Write the message: the body is empty.")
    if len(subject) > SUBJECT_MAX:
        raise ValidationError(f"The subject is {len(subject)} characters long; at most {SUBJECT_MAX}.")
    if len(body) > BODY_MAX:
        raise ValidationError(f"The message is {len(body)} characters long; at most {BODY_MAX}.")
    return ("" if channel == Message.Channel.SMS else subject), body


def check_text(message: Message, subject: str, body: str) -> list[str]:
    """The guideline issues ``message`` would have with this subject and body (nothing saved)."""
    trial = Message(
        pk=message.pk,
        case=message.case,
        order_id=message.order_id,
        order_line_id=message.order_line_id,
        channel=message.channel,
        audience=message.audience,
        step=message.step,
        subject=(subject or "").strip(),
        body=(body or "").strip(),
    )
    return current_issues(trial)


def trial_reply(case: Case) -> Message:
    """An unsaved reply on the case, for checking a text before it is drafted."""
    address = _address(case)
    return Message(
        case=case,
        order_id=case.order_id,
        order_line=None if case.kind == Case.Kind.STALE_TRACKING else _waiting_line(case),
        channel=address[0] if address else Message.Channel.EMAIL,
        audience=Message.Audience.CUSTOMER,
        step=reply_step(case),
    )


def edit_draft(message_id: int, user, *, subject: str, body: str) -> Message:
    """Change a draft's text before approval. The audit row keeps the text before and after; the
    guideline issues are read again (a draft with issues cannot be approved)."""
    _require_staff(user)
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("case").get(pk=message_id)
        if message.status != Message.Status.DRAFT:
            raise NoLongerADraft(no_longer_a_draft(message))
        subject, body = _clean(subject, body, message.channel)
        before = {"subject": message.subject, "body": message.body}
        if before == {"subject": subject, "body": body}:
            return message
        message.subject, message.body = subject, body
        message.guideline_issues = current_issues(message)
        eta_before = message.eta_told
        message.eta_told = _told_after_edit(message.eta_told, body)
        message.save(update_fields=["subject", "body", "guideline_issues", "eta_told"])
        AuditEvent.record(
            "message.edited",
            actor=user,
            case=message.case,
            obj=message,
            summary="Edited the draft"
            + (f" ({len(message.guideline_issues)} guideline issue(s))" if message.guideline_issues else ""),
            before=before,
            after={"subject": subject, "body": body},
            issues=message.guideline_issues,
            **({"eta_told_before": eta_before} if eta_before != message.eta_told else {}),
        )
    return message


def _told_after_edit(eta_told: str, body: str) -> str:
    """What the edited text still tells of the ship range: the stored range while both its ends are
    still named (as the drafts name days: "March 2"), nothing once a person took them out, so the
    cadence does not count on a range the customer was never told."""
    told = drafting.parse_eta_key(eta_told)
    if told is None:
        return eta_told
    named = all(f"{day:%B} {day.day}" in body or f"{day:%b} {day.day}" in body for day in told)
    return eta_told if named else ""


def reply_step(case: Case) -> str:
    return TRACKING_REPLY if case.kind == Case.Kind.STALE_TRACKING else REPLY


def reply(case_id: int, user, *, subject: str, body: str) -> Message:
    """A new draft to the case's customer, written by a person; it waits for approval like any draft."""
    _require_staff(user)
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",)).select_related("order__customer", "shipment").get(pk=case_id)
        )
        address = _address(case)
        if address is None:
            raise ValidationError("This case has no customer who can be written to (no order, no address, or erased).")
        subject, body = _clean(subject, body, address[0])
        step = reply_step(case)
        key = f"reply:{case.pk}:{timezone.now():%Y%m%d%H%M%S%f}"
        message = _new_draft(case, step, subject, body, key=key, actor=user)
    return message


def reply_start(case: Case) -> tuple[str, str]:
    """The subject and opening a reply form offers: the thread's subject and the customer link where
    a reply needs it."""
    if case.order_id is None:
        return "", ""
    context = _context(case, None)
    subject = f"Re: Order {case.order.number}"
    link = (
        ""
        if case.kind == Case.Kind.STALE_TRACKING
        else f"\n\nYour order page, where you can also cancel: {context['link']}"
    )
    return subject, f"Hi {context['first_name']},\n\n{link}\n\n{context['store_name']}".replace("\n\n\n\n", "\n\n")


def offer_to_draft(case: Case, packet, messages: list[Message]) -> bool:
    """Whether the case page offers to draft the replacement offer: the packet recommends one and
    no offer is pending."""
    if packet is None or not case.is_open or packet.recommendation != Decision.Action.OFFER_REPLACEMENT:
        return False
    return not any(m.step == OFFER and m.status in PENDING for m in messages)


def thread(case: Case, messages: list[Message], inbound: list) -> list[dict]:
    """The conversation with the customer in order: our messages and theirs, oldest first."""
    rows = [
        {"ours": True, "at": m.sent_at or m.created_at, "message": m}
        for m in messages
        if m.audience == Message.Audience.CUSTOMER
    ]
    rows += [{"ours": False, "at": i.received_at, "message": i} for i in inbound]
    return sorted(rows, key=lambda row: row["at"])
