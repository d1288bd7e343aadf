"""Reply deadlines: a customer who wrote waits for a person's answer until ``Case.reply_due_at``
(the policy's 24 hours for a first message on the case, 48 for a later one; set when the reply
lands, cleared when a person's answer is sent).

``mark_overdue`` runs after each scheduled sweep: every open case past its deadline is marked
overdue (the queue puts it first), put before the owner and audited, and subscribed automations
hear ``case.updated``. Each case is escalated once per deadline.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from packets.integrations.outbound import case_updated
from packets.models import AuditEvent, Case


def mark_overdue(now: datetime | None = None) -> list[int]:
    """Escalate the open cases whose customer has waited past the reply deadline; their ids."""
    now = now or timezone.now()
    escalated = []
    with transaction.atomic():
        due = (
            Case.objects.open()
            .filter(reply_due_at__lte=now, reply_overdue=False)
            .select_for_update(of=("self",), skip_locked=True)
            .order_by("reply_due_at", "pk")
        )
        for case in due:
            status_was = case.status
            case.reply_overdue = True
            case.save(update_fields=["reply_overdue", "updated_at"])
            waited = case.reply_due_at.astimezone(timezone.get_current_timezone())
            case.set_status(
                Case.Status.AWAITING_OWNER, reason=f"The customer's reply was due by {waited:%b %-d, %H:%M}"
            )
            AuditEvent.record(
                "case.reply_overdue",
                case=case,
                obj=case,
                summary=f"Reply deadline passed unanswered (due {waited:%b %-d, %H:%M})",
                due=case.reply_due_at.isoformat(),
            )
            case_updated(case, "reply_overdue", status_was=status_was)
            escalated.append(case.pk)
    return escalated
