"""Messages the queue lost track of: put them back, flagged, audited. Scheduled every few minutes.

* ``sending`` for longer than the queue's retry window (``Q_CLUSTER['retry']``): the worker died
  and the queue did not deliver the task again (a Redis broker restarted, attempts ran out).
  Re-queued with ``possible_duplicate`` set, since the provider may have received it; the send
  task then follows its per-channel rule (see ``tasks``). After ``NOTIFY_MAX_ATTEMPTS`` it is
  failed instead, for a person to look at.
* ``queued`` with no backoff pending for longer than that window: the hand-over to the queue was
  lost (a process died between commit and enqueue). Enqueued again; the claim makes a duplicate
  task harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from packets.models import AuditEvent, Message
from packets.notify.messaging import enqueue_send

from .tasks import queue_retry

logger = logging.getLogger(__name__)


@dataclass
class ReconcileResult:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reenqueued: list[int] = field(default_factory=list)


def reconcile_stuck(now: datetime | None = None) -> ReconcileResult:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=queue_retry())
    result = ReconcileResult()
    with transaction.atomic():
        stuck = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("case")
            .filter(status=Message.Status.SENDING)
            .filter(Q(sending_started_at__lt=cutoff) | Q(sending_started_at__isnull=True))
        )
        for message in stuck:
            since = (
                f"{message.sending_started_at:%Y-%m-%d %H:%M} UTC" if message.sending_started_at else "an unknown time"
            )
            if message.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
                error = f"Stuck in sending since {since} after {message.attempts} attempts; it may have gone out"
                message.set_status(
                    Message.Status.FAILED, reason=error, last_error=error, possible_duplicate=True, next_attempt_at=None
                )
                result.failed.append(message.pk)
                continue
            message.set_status(
                Message.Status.QUEUED,
                reason=(
                    f"Stuck in sending since {since} (the worker stopped); re-queued and flagged as a possible "
                    "duplicate"
                ),
                possible_duplicate=True,
                queued_at=now,
                next_attempt_at=None,
            )
            result.requeued.append(message.pk)

        lost = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("case")
            .filter(status=Message.Status.QUEUED, next_attempt_at__isnull=True, queued_at__lt=cutoff)
        )
        for message in lost:
            AuditEvent.record(
                "message.reenqueued",
                case=message.case,
                obj=message,
                summary=(
                    f"Queued since {message.queued_at:%Y-%m-%d %H:%M} UTC without being sent; handed to the queue again"
                ),
            )
            result.reenqueued.append(message.pk)
        if lost:
            Message.objects.filter(pk__in=result.reenqueued).update(queued_at=now)

        ids = result.requeued + result.reenqueued
        if ids:
            transaction.on_commit(lambda: [enqueue_send(pk) for pk in ids])
            logger.info("Handed %d stuck or lost message(s) back to the queue", len(ids))
    return result
