"""Customer updates for stale parcels: what we know, what we are doing, when we write again.

After each sweep, every open stale-tracking case whose customer has heard nothing from us for
``compose.NEXT_WRITE_DAYS`` days, and has no message waiting to go, gets one drafted update
(``packets/messages/tracking_update.txt``). Level-triggered and idempotent: one draft per case and
day at most (``Message.idempotency_key``), none while another is pending or was written lately.
A customer with a case on chargeback watch gets the draft held for the owner (``needs_owner``).
The text never calls a parcel shipped on a label alone: the guideline check reads the order's
shipments, and a draft that breaks a guideline cannot be approved. Nothing is sent without approval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q

from backorders.models import OrderLine, StorePolicy
from packets.models import AuditEvent, Case, Message
from packets.notify import compose, guidelines
from packets.notify.cadence import preferred_channel

PENDING = (Message.Status.DRAFT, Message.Status.APPROVED, Message.Status.QUEUED, Message.Status.SENDING)


def due_cases(now: datetime):
    """Open stale-tracking cases with an order whose customer is due an update."""
    window = now - timedelta(days=compose.NEXT_WRITE_DAYS)
    ours = Message.objects.filter(case_id=OuterRef("pk"), audience=Message.Audience.CUSTOMER)
    return (
        Case.objects.filter(kind=Case.Kind.STALE_TRACKING, order__isnull=False, order__customer__erased_at__isnull=True)
        .exclude(status=Case.Status.RESOLVED)
        .exclude(Exists(ours.filter(Q(status__in=PENDING) | Q(created_at__gte=window))))
        .annotate(held=Exists(compose.on_watch_cases().filter(order__customer_id=OuterRef("order__customer_id"))))
        .select_related("order__customer", "shipment", "product")
        .prefetch_related(
            Prefetch("order__lines", queryset=OrderLine.objects.select_related("product")), "order__shipments"
        )
        .order_by("pk")
    )


def draft_tracking_updates(now: datetime) -> int:
    """Draft the update each due stale-tracking case needs; returns how many were drafted."""
    policy = StorePolicy.objects.current()
    drafts: list[Message] = []
    for case in due_cases(now):
        order = case.order
        address = preferred_channel(order.customer)
        if address is None:
            continue
        channel, to = address
        subject, body = compose._render(compose.TRACKING_UPDATE, case, channel=channel)
        moving = any(shipment.carrier_has_it for shipment in order.shipments.all())
        issues = guidelines.check(body, channel, policy, parcel_moving=moving)
        if not moving and guidelines.SHIPPED_WORDS.search(subject):
            issues.append(guidelines.LABEL_IS_NOT_A_SHIPMENT)
        drafts.append(
            Message(
                case=case,
                order=order,
                customer=order.customer,
                channel=channel,
                audience=Message.Audience.CUSTOMER,
                step=compose.TRACKING_UPDATE,
                to=to,
                subject=subject if channel == Message.Channel.EMAIL else "",
                body=body,
                idempotency_key=f"tracking-update:{case.pk}:{now.date().isoformat()}",
                guideline_issues=issues,
                needs_owner=case.held or order.customer.is_vip(policy) or order.total >= policy.high_value_order,
                created_at=now,
            )
        )
    if not drafts:
        return 0
    with transaction.atomic():
        made = Message.objects.bulk_create(drafts, ignore_conflicts=True)
        keys = [m.idempotency_key for m in made]
        stored = {m.idempotency_key: m for m in Message.objects.filter(idempotency_key__in=keys, created_at=now)}
        AuditEvent.objects.bulk_create(
            AuditEvent(
                action="message.drafted",
                actor_label="system",
                case_id=message.case_id,
                object_type=message._meta.label_lower,
                object_id=str(message.pk),
                summary=f"Drafted: {message.subject or message.step} (the parcel has not moved)",
                data={"step": message.step},
            )
            for message in stored.values()
        )
    return len(stored)
