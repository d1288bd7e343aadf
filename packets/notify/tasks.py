"""django-q2 tasks that deliver approved messages, exactly once in effect.

``send_message(message_id)`` claims the row with a conditional UPDATE (queued -> sending), so of
two workers holding the same task only one sends. The provider call happens outside any
transaction; the outcome is written afterwards through ``Message.set_status`` (with its audit row):

* sent, with the provider's id;
* queued again with ``next_attempt_at`` (exponential backoff, never sooner than the provider's
  Retry-After) after a timeout, connection error, 5xx or 429; ``retry_due_messages`` (a scheduled
  task: django-q2 has no delayed enqueue) hands due ones back to the queue;
* failed with ``last_error`` after a permanent error or ``NOTIFY_MAX_ATTEMPTS`` attempts.

A worker killed mid-send leaves the row in ``sending``. When django-q2 delivers the task again
(after ``Q_CLUSTER['retry']`` seconds) the task finds it there: if the send began longer ago than
the queue's timeout, the first worker is gone (the queue kills a task at its timeout), so this
one takes the row over, flags ``possible_duplicate`` and decides per channel:

* email: sent again with the same ``Message-ID``, which mail clients and providers use to fold
  duplicates;
* SMS: Twilio is asked first whether it already holds the same text to the same number since the
  send began; if so its sid is adopted and nothing is sent, otherwise it is sent;
* Slack (staff only): sent again.

Should the queue have lost the task, ``reconcile.reconcile_stuck`` re-queues the row the same way.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from packets.integrations.outbound import emit, message_payload
from packets.models import AuditEvent, Case, Message
from packets.notify.messaging import current_issues, enqueue_send, refresh_links

from . import purchase_orders, senders

logger = logging.getLogger(__name__)


def queue_timeout() -> int:
    return int(settings.Q_CLUSTER["timeout"])


def queue_retry() -> int:
    return int(settings.Q_CLUSTER["retry"])


def backoff_seconds(attempts: int) -> int:
    """60 s, 120 s, 240 s ... capped, for the attempt that just failed (1-based)."""
    delay = settings.NOTIFY_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return min(delay, settings.NOTIFY_RETRY_MAX_SECONDS)


def send_message(message_id: int) -> str:
    """Deliver one approved message. Returns what happened, in words (the queue stores it)."""
    message = _claim(message_id)
    if isinstance(message, str):
        logger.info("Message %s not sent: %s", message_id, message)
        return message

    paused = _paused(message)
    if paused:
        _fail(message, paused)
        return "refused: automated replies paused"

    refresh_links(message)  # the links go out as the site is now, not as it was when drafted
    issues = current_issues(message) if not message.guideline_issues else message.guideline_issues
    if issues:
        _fail(message, "Refused to send: it breaks the store's message guidelines: " + "; ".join(issues))
        return "refused: guideline issues"

    try:
        if message.possible_duplicate and message.channel == Message.Channel.SMS:
            since = message.queued_at or message.created_at
            sid = senders.find_sent_sms(message, since)
            if sid:
                _mark_sent(message, sid, "Twilio already had it from the earlier attempt; not sent again")
                return f"sent earlier as {sid}"
        provider_id = senders.send(message)
    except senders.TransientSendError as exc:
        return _retry_later(message, str(exc), exc.retry_after, may_have_arrived=exc.may_have_arrived)
    except senders.PermanentSendError as exc:
        _fail(message, str(exc))
        return f"failed: {exc}"
    except Exception as exc:
        # A fault of ours: the message may or may not have gone out. Show it, then let the queue
        # record the exception.
        _fail(message, f"Unexpected error while sending ({exc.__class__.__name__}); it may not have gone out")
        raise
    _mark_sent(message, provider_id, f"Sent ({provider_id})")
    return f"sent as {provider_id}"


def _paused(message: Message) -> str:
    """Why an automatically approved reply must not go out now (its case went on chargeback watch
    after it was approved); empty when it may. A person's approval is not second-guessed."""
    case = message.case
    if message.standing_approval and case is not None and case.risk_level == case.Risk.CHARGEBACK_WATCH:
        return (
            "Not sent: the case is on chargeback watch, so automated replies are paused. "
            "The owner reads the case and sends this again, or writes another."
        )
    if message.standing_approval and message.needs_owner:  # held after approval (a customer's chargeback words)
        return (
            "Not sent: the customer's reply carries chargeback risk, so automated replies are held. "
            "The owner reads the case and sends this again, or writes another."
        )
    return ""


def _claim(message_id: int) -> Message | str:
    """The message, now ``sending`` and ours; or why there is nothing to do."""
    now = timezone.now()
    with transaction.atomic():
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        claimed = Message.objects.filter(Q(pk=message_id, status=Message.Status.QUEUED) & due).update(
            status=Message.Status.SENDING, sending_started_at=now, attempts=F("attempts") + 1
        )
        message = Message.objects.select_related("case").filter(pk=message_id).first()
        if message is None:
            return "no such message"
        if claimed:
            AuditEvent.record(
                "message.sending",
                case=message.case,
                obj=message,
                summary=f"queued → sending (attempt {message.attempts})",
                old=Message.Status.QUEUED,
            )
            return message
        if message.status != Message.Status.SENDING:
            return f"nothing to do: the message is {message.status}"
        started = message.sending_started_at
        if started is not None and started > now - timedelta(seconds=queue_timeout()):
            return "another worker is sending it now"
        took = Message.objects.filter(pk=message_id, status=Message.Status.SENDING, sending_started_at=started).update(
            sending_started_at=now, possible_duplicate=True, attempts=F("attempts") + 1
        )
        if not took:
            return "another worker took it over"
        message.refresh_from_db()
        AuditEvent.record(
            "message.redelivered",
            case=message.case,
            obj=message,
            summary=(
                f"Still 'sending' since {started:%Y-%m-%d %H:%M} UTC: the worker stopped mid-send. Sending again "
                f"(attempt {message.attempts}); flagged as a possible duplicate"
            ),
            started=started,
        )
        return message


def _mark_sent(message: Message, provider_id: str, reason: str) -> None:
    with transaction.atomic():
        locked = Message.objects.select_for_update(of=("self",)).select_related("case").get(pk=message.pk)
        locked.set_status(
            Message.Status.SENT,
            reason=reason,
            sent_at=timezone.now(),
            provider_id=provider_id[:255],
            email_message_id=senders.message_id_header(locked) if locked.channel == Message.Channel.EMAIL else "",
            next_attempt_at=None,
            last_error="",
        )
        if locked.audience == Message.Audience.SUPPLIER:
            purchase_orders.message_sent(locked)  # a purchase order's email: the order is sent
        if locked.audience == Message.Audience.CUSTOMER and locked.case_id and not locked.standing_approval:
            # a person's answer reached the customer: nobody waits for one now
            Case.objects.filter(pk=locked.case_id, reply_due_at__isnull=False).update(
                reply_due_at=None, reply_overdue=False, updated_at=timezone.now()
            )
        emit("message.sent", message_payload(locked), case=locked.case)


def _fail(message: Message, error: str) -> None:
    with transaction.atomic():
        locked = Message.objects.select_for_update(of=("self",)).select_related("case").get(pk=message.pk)
        locked.set_status(
            Message.Status.FAILED, reason=f"Failed: {error}"[:500], last_error=error, next_attempt_at=None
        )
        emit("message.failed", message_payload(locked), case=locked.case)


def _retry_later(message: Message, error: str, retry_after: float | None, *, may_have_arrived: bool = False) -> str:
    """Queue the next attempt after the backoff. When the provider may already have the message (no
    answer to a request that went out), it is flagged ``possible_duplicate``: SMS then asks Twilio
    first, and the case shows that the customer may get it twice."""
    if may_have_arrived:
        Message.objects.filter(pk=message.pk).update(possible_duplicate=True)
    if message.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
        _fail(message, f"Gave up after {message.attempts} attempts. Last error: {error}")
        return f"failed after {message.attempts} attempts"
    delay = max(float(backoff_seconds(message.attempts)), retry_after or 0.0)
    when = timezone.now() + timedelta(seconds=delay)
    flag = "; the provider may have it already, flagged as a possible duplicate" if may_have_arrived else ""
    with transaction.atomic():
        locked = Message.objects.select_for_update(of=("self",)).select_related("case").get(pk=message.pk)
        locked.set_status(
            Message.Status.QUEUED,
            reason=(f"Attempt {message.attempts} failed ({error}){flag}; next try after {when:%Y-%m-%d %H:%M:%S} UTC")[
                :500
            ],
            next_attempt_at=when,
            last_error=error,
        )
    return f"retry at {when.isoformat()}"


def retry_due_messages() -> int:
    """Scheduled: hand messages whose backoff has passed back to the queue. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Message.Status.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:500]
        )
        if ids:
            Message.objects.filter(pk__in=ids).update(next_attempt_at=None, queued_at=now)
            transaction.on_commit(lambda: [enqueue_send(pk) for pk in ids])
            logger.info("Queued %d message(s) whose retry was due", len(ids))
    return len(ids)
