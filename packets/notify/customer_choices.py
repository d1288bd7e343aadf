"""What a customer chooses on their order page, besides cancelling: keep waiting for the stated
range, or take the replacement the case's packet offers. Each choice is recorded as the customer's
word on the case (an InboundMessage with the choice as its intent), audited, puts the case in the
owner's queue and refreshes it at once. Nothing is shipped, swapped or refunded here: a
replacement waits for the owner's approval, as the policy asks.
"""

from __future__ import annotations

from django.db import transaction

from backorders.models import Order
from packets.integrations.outbound import case_updated
from packets.models import AuditEvent, Case, Decision, InboundMessage, Packet
from packets.sweep.refresh import refresh_after_commit

KEEP_WAITING = "keep_waiting"
ACCEPT_REPLACEMENT = "accept_replacement"
CHOICES = {
    KEEP_WAITING: "The customer chose to keep waiting for the stated range.",
    ACCEPT_REPLACEMENT: "The customer accepted the offered replacement: {label}.",
}


class ChoiceNotOffered(Exception):
    """The order's case does not offer this choice (any more)."""


def latest_packet_for(order: Order) -> Packet | None:
    """The newest packet of the order's open case (one query)."""
    return (
        Packet.objects.filter(case__order=order)
        .exclude(case__status=Case.Status.RESOLVED)
        .select_related("case")
        .order_by("-case__opened_at", "-version")
        .first()
    )


def offered_replacement(packet: Packet | None) -> str:
    """The label of the replacement the packet offers the customer, or ''."""
    if packet is None:
        return ""
    for option in (packet.content or {}).get("options") or []:
        if option.get("action") == Decision.Action.OFFER_REPLACEMENT:
            return str(option.get("label") or "a replacement")
    return ""


def choices_made(order: Order) -> set[str]:
    return {
        intent
        for intents in InboundMessage.objects.filter(order=order).values_list("intents", flat=True)
        for intent in intents or []
        if intent in CHOICES
    }


def record_choice(order: Order, choice: str, *, ip: str = "") -> InboundMessage:
    """Record the customer's choice on the order's open case; a repeated click records nothing new."""
    if choice not in CHOICES:
        raise ChoiceNotOffered(choice)
    with transaction.atomic():
        locked = Order.objects.select_for_update(of=("self",)).select_related("customer").get(pk=order.pk)
        packet = latest_packet_for(locked)
        if packet is None or locked.status != Order.Status.OPEN:
            raise ChoiceNotOffered(choice)
        label = offered_replacement(packet)
        if choice == ACCEPT_REPLACEMENT and not label:
            raise ChoiceNotOffered(choice)
        case = Case.objects.select_for_update(of=("self",)).get(pk=packet.case_id)
        # JSON ``contains`` is not portable to SQLite: an order has few inbound messages, read in Python
        for existing in InboundMessage.objects.filter(order=locked, case=case).order_by("received_at"):
            if choice in (existing.intents or []):
                return existing
        summary = CHOICES[choice].format(label=label)
        inbound = InboundMessage.objects.create(
            case=case,
            customer=locked.customer,
            order=locked,
            from_address="order page (signed link)",
            subject=f"Order {locked.number}: the customer's choice",
            body=summary,
            intents=[choice],
            escalated=choice == ACCEPT_REPLACEMENT,
        )
        status_was = case.status
        if choice == ACCEPT_REPLACEMENT:
            target = Case.Status.AWAITING_OWNER  # a replacement is the owner's to approve
        else:
            target = Case.Status.OPEN if case.status in (Case.Status.ACTIONED, Case.Status.WAITING) else case.status
        if target != case.status:
            case.set_status(target, reason=summary)
        case_updated(case, "message", status_was=status_was)
        AuditEvent.record("customer.choice", case=case, obj=inbound, summary=summary, choice=choice, ip=ip)
        refresh_after_commit(case.pk)
    return inbound
