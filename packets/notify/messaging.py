"""Message approval: the one place a draft becomes sendable.

The send itself happens in the worker, enqueued only after the approving transaction commits.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from backorders.models import StorePolicy
from backorders.roles import is_owner, is_staff_member
from packets.models import AuditEvent, IllegalTransition, Message
from packets.notify import channels, guidelines
from packets.sweep.refresh import refresh_after_commit

SEND_TASK = "packets.notify.tasks.send_message"
STANDING_STEPS_EXTRA = ("delay_notice", "eta_revised", "restocked", "shipped")

logger = logging.getLogger(__name__)


def can_approve(user, message: Message) -> bool:
    """Staff approve messages; the owner alone those a VIP, a high value or conflicting evidence
    flagged, and every customer message on a case on chargeback watch or owner-only."""
    if message.owner_reason:
        return is_owner(user)
    return is_staff_member(user)


def _refusal(message: Message) -> str:
    if message.owner_reason:
        return f"This message needs the owner's approval: {message.owner_reason}"
    return "Only the store's owner and support staff approve messages"


def current_issues(message: Message, policy: StorePolicy | None = None) -> list[str]:
    """The guideline issues of a customer message's text under the current policy."""
    if message.audience != Message.Audience.CUSTOMER:
        return []
    policy = policy or StorePolicy.objects.current()
    from packets.notify.drafting import needs_cancel_link

    required = bool(message.step) and needs_cancel_link(message.step)
    moving = parcel_moving(message)
    gone = message.order_line_id is not None and message.order_line.product.status == "discontinued"
    issues = guidelines.check(
        message.body, message.channel, policy, cancel_link_required=required, parcel_moving=moving, item_gone=gone
    )
    if moving is False and guidelines.SHIPPED_WORDS.search(message.subject or ""):
        issues.append(guidelines.LABEL_IS_NOT_A_SHIPMENT)
    return list(dict.fromkeys(issues))


def parcel_moving(message: Message) -> bool | None:
    """Whether a carrier scan shows the message's order moving (None for a message about no order)."""
    if message.order_id is None:
        return None
    from backorders.models import Shipment

    return any(shipment.carrier_has_it for shipment in Shipment.objects.filter(order_id=message.order_id))


def refresh_links(message: Message) -> None:
    """Render the customer links of a locked customer message as the site is now (``SITE_URL``, a
    fresh token) and save the text: a draft made under an earlier address is neither refused for it
    nor sent with it. Only the missing-link issue is re-read; other stored issues stand."""
    if message.audience != Message.Audience.CUSTOMER or message.order_id is None:
        return
    from packets.notify.links import with_current_links

    body = with_current_links(message.body, message.order)
    if body == message.body:
        return
    message.body = body
    stored = [issue for issue in message.guideline_issues or [] if issue != guidelines.MISSING_CANCEL_LINK]
    if guidelines.MISSING_CANCEL_LINK in current_issues(message):
        stored.append(guidelines.MISSING_CANCEL_LINK)
    message.guideline_issues = stored
    Message.objects.filter(pk=message.pk).update(body=body, guideline_issues=stored)


class NoLongerADraft(IllegalTransition):
    """The message changed since it was read (cancelled by the sweep, approved by someone else)."""


def no_longer_a_draft(message: Message) -> str:
    """Why a message that changed since the page was read cannot be approved, in words: what it is
    now and, from its audit trail, what made it so (the sweep cancels a draft whose line stopped
    waiting; someone else may have approved it first)."""
    last = (
        AuditEvent.objects.filter(object_type="packets.message", object_id=str(message.pk))
        .order_by("-at", "-pk")
        .values_list("summary", flat=True)
        .first()
    )
    why = f" ({last})" if last else ""
    return (
        f"This message can no longer be approved: it is {message.get_status_display().lower()}{why}. "
        "Reload the page to see the case as it is now."
    )


def approve_message(message_id: int, user) -> Message:
    """Approve a draft and queue it for sending once this transaction commits. Its customer links are
    rendered first, as the site is now."""
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("case").get(pk=message_id)
        if not can_approve(user, message):
            raise PermissionDenied(_refusal(message))
        if message.status != Message.Status.DRAFT:
            raise NoLongerADraft(no_longer_a_draft(message))
        unset = channels.not_ready(message.channel)
        if unset:
            raise ValidationError(f"Cannot be sent: {unset}. Set it up, or cancel this draft")
        refresh_links(message)
        issues = message.guideline_issues or current_issues(message)
        if issues:
            raise ValidationError("This draft breaks the store's message guidelines: " + "; ".join(issues))
        message.set_status(
            Message.Status.APPROVED, actor=user, reason="Approved", approved_by=user, approved_at=timezone.now()
        )
        message.set_status(Message.Status.QUEUED, actor=user, reason="Queued for sending", queued_at=timezone.now())
        transaction.on_commit(lambda: enqueue_send(message.pk))
        refresh_after_commit(message.case_id)
    return message


def retry_failed_message(message_id: int, user) -> Message:
    """Send a failed message again (after the cause, such as a wrong number, was fixed)."""
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("case").get(pk=message_id)
        if not can_approve(user, message):
            raise PermissionDenied(_refusal(message))
        unset = channels.not_ready(message.channel)
        if unset:
            raise ValidationError(f"Cannot be sent: {unset}")
        message.set_status(
            Message.Status.QUEUED,
            actor=user,
            reason=f"Re-queued by hand after: {message.last_error}"[:500],
            queued_at=timezone.now(),
            next_attempt_at=None,
            attempts=0,
        )
        transaction.on_commit(lambda: enqueue_send(message.pk))
    return message


def enqueue_send(message_id: int) -> None:
    """Hand one message to the worker. Call it from ``transaction.on_commit``."""
    from backorders.queueing import enqueue_stored

    # a broker outage leaves it queued: notify.reconcile hands it over once the broker is back
    enqueue_stored(SEND_TASK, message_id, task_name=f"send-message-{message_id}", what=f"message {message_id}")


_enqueue = enqueue_send  # the name earlier code used


def _standing_step_keys(policy: StorePolicy) -> set[str]:
    return {step["key"] for step in policy.cadence} | set(STANDING_STEPS_EXTRA)


@transaction.atomic
def grant_standing_approval(step: str, owner) -> StorePolicy:
    """The owner approves a cadence step in advance; returns the new policy version."""
    return _change_standing(step, owner, grant=True)


@transaction.atomic
def revoke_standing_approval(step: str, owner) -> StorePolicy:
    return _change_standing(step, owner, grant=False)


def _change_standing(step: str, owner, *, grant: bool) -> StorePolicy:
    if not is_owner(owner):
        raise PermissionDenied("Only the owner can change standing approvals.")
    policy = StorePolicy.objects.current()
    if step not in _standing_step_keys(policy):
        raise ValidationError(f"{step!r} is not a message step of this store's policy.")
    steps = set(policy.standing_approvals)
    if (step in steps) == grant:
        return policy
    steps = steps | {step} if grant else steps - {step}
    verb = "Granted" if grant else "Revoked"
    new = policy.revise(user=owner, note=f"{verb} standing approval for {step}", standing_approvals=sorted(steps))
    AuditEvent.record(
        "policy.standing_approval",
        actor=owner,
        obj=new,
        summary=f"{verb} standing approval for {step} (policy v{new.version})",
        step=step,
        granted=grant,
        version=new.version,
    )
    return new


def queue_staff_alert(text: str, *, key: str, case=None) -> Message | None:
    """Tell the staff channel (Slack) something; staff alerts need no approval. None when Slack is
    not configured or the alert with this key was already sent."""
    if not settings.SLACK_WEBHOOK_URL:
        logger.info("Staff alert not sent (SLACK_WEBHOOK_URL is not set): %s", text)
        return None
    with transaction.atomic():
        message, created = Message.objects.get_or_create(
            idempotency_key=f"staff:{key}",
            defaults={
                "case": case,
                "channel": Message.Channel.SLACK,
                "audience": Message.Audience.STAFF,
                "to": "slack",
                "body": text,
            },
        )
        if not created:
            return None
        now = timezone.now()
        message.set_status(Message.Status.APPROVED, reason="Staff alert: no approval needed", approved_at=now)
        message.set_status(Message.Status.QUEUED, reason="Queued for sending", queued_at=now)
        transaction.on_commit(lambda: enqueue_send(message.pk))
    return message
