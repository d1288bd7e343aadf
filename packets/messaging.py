"""Message approval: the one place a draft becomes sendable.

The send itself happens in the worker, enqueued only after the approving transaction commits.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from backorders.roles import is_owner, is_staff_member

from .models import Message

SEND_TASK = "packets.notify.tasks.send_message"


def can_approve(user, message: Message) -> bool:
    if message.needs_owner:
        return is_owner(user)
    return is_staff_member(user)


def approve_message(message_id: int, user) -> Message:
    """Approve a draft and queue it for sending once this transaction commits."""
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("case").get(pk=message_id)
        if not can_approve(user, message):
            raise PermissionDenied("This message needs the owner's approval.")
        if message.guideline_issues:
            raise ValidationError(
                "This draft breaks the store's message guidelines: " + "; ".join(message.guideline_issues)
            )
        message.set_status(
            Message.Status.APPROVED, actor=user, reason="Approved", approved_by=user, approved_at=timezone.now()
        )
        message.set_status(Message.Status.QUEUED, actor=user, reason="Queued for sending", queued_at=timezone.now())
        transaction.on_commit(lambda: _enqueue(message.pk))
    return message


def _enqueue(message_id: int) -> None:
    from django_q.tasks import async_task

    async_task(SEND_TASK, message_id, task_name=f"send-message-{message_id}")
