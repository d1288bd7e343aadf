"""Outbound events for automation tools (Zapier, Make, n8n...), signed per Standard Webhooks.

``emit(event_type, payload, case=None)`` writes one ``OutboundDelivery`` row per subscription that
wants the event, inside the caller's transaction, and enqueues them after commit: an event is
sent only when the change it reports was committed; ``emit_many`` does the same for many events
in two queries (one when nobody subscribes). ``deliver(delivery_id)`` posts the body with
``webhook-id`` (the same on every attempt, for the receiver's deduplication), ``webhook-timestamp``
and ``webhook-signature`` (``standardwebhooks``). A 2xx is delivered; 410 Gone turns the
subscription off; anything else, or no answer, is retried with backoff through
``next_attempt_at`` and the scheduled ``retry_due_deliveries``, up to ``OUTBOUND_MAX_ATTEMPTS``.
Body: ``{"type": ..., "timestamp": ..., "data": {...}}``; schemas in ``docs/events/``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks import Webhook

from packets.integrations.targets import target_problem
from packets.models import OutboundDelivery, OutboundSubscription

logger = logging.getLogger(__name__)

DELIVER_TASK = "packets.integrations.outbound.deliver"
EVENT_TYPES = (
    "case.opened",
    "case.updated",
    "decision.approved",
    "message.sent",
    "message.failed",
    "store_action.succeeded",
    "store_action.failed",
    "stock.allocated",
)
# Seconds before attempt n+1 (the Standard Webhooks reference schedule, shortened at the start).
BACKOFF = (5, 60, 300, 1800, 7200, 18000, 36000, 36000)
Status = OutboundDelivery.Status


def emit(event_type: str, payload: dict, *, case=None) -> list[OutboundDelivery]:
    """Queue ``event_type`` for every active subscription that wants it. Call inside the transaction
    that made the change; deliveries are enqueued after it commits."""
    return emit_many([(event_type, payload, case)])


def emit_many(events: Iterable[tuple[str, dict, Any]]) -> list[OutboundDelivery]:
    """Queue many events (``(event_type, payload, case or case id or None)``) in two queries.

    One query reads the subscriptions, one ``bulk_create`` writes every delivery; with no
    subscription it costs that one query, and with no event none. Call inside the transaction
    that made the changes. After it commits, up to ``OUTBOUND_ENQUEUE_AT_ONCE`` deliveries are
    handed to the queue at once; a larger burst (a first sweep opening thousands of cases) is
    marked due and goes out through ``retry_due_deliveries``, a batch each minute.
    """
    events = list(events)
    if not events:
        return []
    for event_type, _, _ in events:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"{event_type!r} is not an event type; known: {', '.join(EVENT_TYPES)}")
    subscriptions = list(OutboundSubscription.objects.filter(active=True))
    if not subscriptions:
        return []
    now = timezone.now()
    stamp = now.isoformat()
    rows = []
    for event_type, payload, case in events:
        wanting = [s for s in subscriptions if s.wants(event_type)]
        if not wanting:
            continue
        event_id = f"msg_{uuid.uuid4().hex}"
        body = json.loads(json.dumps({"type": event_type, "timestamp": stamp, "data": payload}, cls=DjangoJSONEncoder))
        case_id = getattr(case, "pk", case)
        rows += [
            OutboundDelivery(subscription=s, event_id=event_id, event_type=event_type, payload=body, case_id=case_id)
            for s in wanting
        ]
    if not rows:
        return []
    burst = len(rows) > settings.OUTBOUND_ENQUEUE_AT_ONCE
    if burst:
        for row in rows:
            row.next_attempt_at = now
    deliveries = OutboundDelivery.objects.bulk_create(rows)
    if not burst:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: [enqueue(pk) for pk in ids])
    return deliveries


# --------------------------------------------------------------------------- payloads (docs/events/*.json)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


CASE_FIELDS = (
    "kind",
    "category",
    "status",
    "risk_level",
    "title",
    "order_id",
    "product_id",
    "shipment_id",
    "supplier_id",
    "promise_at_risk",
)


def case_payload(case, changes: Iterable[str] | None = None) -> dict:
    """The ``case.opened`` / ``case.updated`` body, from a ``Case`` or a row of its fields (the
    sweep's). ``changes`` (``case.updated`` only) says what moved: ``status``, ``packet``,
    ``decision``, ``message``."""
    get = case.get if isinstance(case, Mapping) else lambda name: getattr(case, name, None)
    payload = {name: get(name) for name in ("id", *CASE_FIELDS)}
    payload["opened_at"] = _iso(get("opened_at"))
    payload["updated_at"] = _iso(get("updated_at"))
    if changes is not None:
        payload["changes"] = sorted(set(changes))
    return payload


def case_changes(case, status_was: str | None, *changes: str) -> list[str]:
    """``changes``, with ``status`` when the case's status is no longer ``status_was``."""
    return [*changes, *(["status"] if status_was is not None and case.status != status_was else [])]


def case_updated(case, *changes: str, status_was: str | None = None) -> list[OutboundDelivery]:
    """``case.updated`` for one case a person (or a provider's report) changed; inside that transaction."""
    return emit("case.updated", case_payload(case, case_changes(case, status_was, *changes)), case=case)


def decision_payload(decision) -> dict:
    """The ``decision.approved`` body."""
    return {
        "id": decision.pk,
        "case_id": decision.case_id,
        "action": decision.action,
        "status": decision.status,
        "amount": str(decision.amount) if decision.amount is not None else None,
        "note": decision.note,
        "approved_by": decision.approved_by.get_username() if decision.approved_by_id else None,
        "approved_at": _iso(decision.approved_at),
    }


def stock_payload(product, lines) -> dict:
    """The ``stock.allocated`` body: a product's units given to waiting order lines."""
    return {
        "product_id": product.pk,
        "sku": product.sku,
        "on_hand": product.on_hand,
        "allocated": product.allocated,
        "lines": [
            {
                "line_id": line.pk,
                "order_id": line.order_id,
                "quantity": line.quantity,
                "allocated": line.allocated,
                "state": line.state,
            }
            for line in lines
        ],
    }


def message_payload(message) -> dict:
    """The ``message.sent`` / ``message.failed`` body: what happened, never the text or the address."""
    return {
        "id": message.pk,
        "case_id": message.case_id,
        "order_id": message.order_id,
        "channel": message.channel,
        "audience": message.audience,
        "step": message.step,
        "status": message.status,
        "provider_id": message.provider_id,
        "sent_at": _iso(message.sent_at),
        "error": message.last_error,
        "attempts": message.attempts,
    }


def enqueue(delivery_id: int) -> None:
    from backorders.queueing import enqueue_stored

    enqueue_stored(DELIVER_TASK, delivery_id, task_name=f"outbound-{delivery_id}", what=f"outbound event {delivery_id}")


def signed_headers(subscription: OutboundSubscription, event_id: str, body: str, at: datetime) -> dict[str, str]:
    signature = Webhook(subscription.secret).sign(msg_id=event_id, timestamp=at, data=body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": "BackorderDesk-Webhooks/1",
    }


def deliver(delivery_id: int) -> str:
    """Send one delivery (a django-q2 task). Returns what happened, in words."""
    # The claim: of two workers holding the same task, one sends. Due-ness is decided by whoever
    # enqueued it (emit, the retry schedule, the log's "send again").
    claimed = OutboundDelivery.objects.filter(pk=delivery_id, status=Status.PENDING).update(
        status=Status.SENDING, sending_started_at=timezone.now(), attempts=F("attempts") + 1, next_attempt_at=None
    )
    if not claimed:
        return "nothing to do (already sent or being sent)"
    delivery = OutboundDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    body = json.dumps(delivery.payload, separators=(",", ":"), cls=DjangoJSONEncoder)
    at = datetime.now(UTC)
    status_code, text, error = None, "", ""
    problem = target_problem(subscription.url)
    if problem:
        # resolved again at each send: a name can be pointed at a private address after it was saved
        error = f"Not sent to {subscription.url}: {problem}"
        logger.warning("Outbound delivery %s refused: %s", delivery_id, problem)
        OutboundDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.FAILED, error=error[:2000], response_status=None, response_body=""
        )
        OutboundSubscription.objects.filter(pk=subscription.pk).update(
            last_error=error[:2000], last_error_at=timezone.now()
        )
        return "failed: " + problem
    try:
        response = requests.post(
            subscription.url,
            data=body.encode(),
            headers=signed_headers(subscription, delivery.event_id, body, at),
            timeout=(settings.OUTBOUND_CONNECT_TIMEOUT, settings.OUTBOUND_READ_TIMEOUT),
            allow_redirects=False,
        )
        status_code, text = response.status_code, response.text[:2000]
    except requests.RequestException as exc:
        error = f"No answer from {subscription.url}: {exc.__class__.__name__}"
    return _record(delivery, status_code, text, error)


def _record(delivery: OutboundDelivery, status_code: int | None, text: str, error: str) -> str:
    now = timezone.now()
    subscription = delivery.subscription
    fields = {"response_status": status_code, "response_body": text}
    with transaction.atomic():
        if status_code is not None and 200 <= status_code < 300:
            OutboundDelivery.objects.filter(pk=delivery.pk).update(
                status=Status.SUCCEEDED, delivered_at=now, error="", next_attempt_at=None, **fields
            )
            OutboundSubscription.objects.filter(pk=subscription.pk).update(last_success_at=now)
            return f"delivered ({status_code})"
        error = error or f"{subscription.url} answered {status_code}"
        OutboundSubscription.objects.filter(pk=subscription.pk).update(last_error=error[:2000], last_error_at=now)
        if status_code == 410:
            OutboundSubscription.objects.filter(pk=subscription.pk).update(active=False)
            OutboundDelivery.objects.filter(pk=delivery.pk).update(
                status=Status.FAILED, error=f"{error}: the endpoint is gone; the subscription is now off", **fields
            )
            return "failed: 410 Gone, subscription turned off"
        if delivery.attempts >= settings.OUTBOUND_MAX_ATTEMPTS:
            OutboundDelivery.objects.filter(pk=delivery.pk).update(
                status=Status.FAILED, error=f"Gave up after {delivery.attempts} attempts: {error}", **fields
            )
            return f"failed after {delivery.attempts} attempts"
        wait = BACKOFF[min(delivery.attempts, len(BACKOFF)) - 1]
        when = now + timedelta(seconds=wait)
        OutboundDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.PENDING, next_attempt_at=when, error=error, **fields
        )
        return f"retry at {when.isoformat()}"


def retry_due_deliveries(limit: int = 500) -> int:
    """Scheduled: enqueue deliveries whose wait has passed, and take back ones a lost worker left
    ``sending``. Returns how many."""
    now = timezone.now()
    lost = now - timedelta(seconds=int(settings.Q_CLUSTER["retry"]))
    with transaction.atomic():
        OutboundDelivery.objects.filter(status=Status.SENDING, sending_started_at__lt=lost).update(
            status=Status.PENDING, next_attempt_at=now, error="The worker stopped mid-send; sending again"
        )
        ids = list(
            OutboundDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING)
            .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=lost))
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            # a lease, so the next run does not enqueue them again while their tasks wait
            OutboundDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + timedelta(minutes=10))
            transaction.on_commit(lambda: [enqueue(pk) for pk in ids])
            logger.info("Queued %d outbound event deliveries that were due", len(ids))
    return len(ids)


def send_again(delivery_id: int) -> None:
    """From the delivery log: send a finished delivery once more (same webhook-id)."""
    with transaction.atomic():
        OutboundDelivery.objects.filter(pk=delivery_id).exclude(status=Status.SENDING).update(
            status=Status.PENDING, next_attempt_at=None, attempts=0
        )
        transaction.on_commit(lambda: enqueue(delivery_id))
