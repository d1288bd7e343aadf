"""Zendesk: an escalated case opens one ticket in the store's helpdesk.

``on_escalated(decision, case, actor)`` is called inside the transaction that approved an
"Escalate" decision. It writes the case's ``ZendeskTicket`` row once (the body and one
``Idempotency-Key`` per case, made then and never changed) and enqueues ``open_ticket`` after
commit. Escalating the case again leaves an open or pending ticket alone; a failed one is sent
again, with the same key and body.

``open_ticket(ticket_id)`` (a django-q2 task) claims the row (pending -> sending, a conditional
UPDATE, so of two workers one sends) and posts ``{ZENDESK_URL}/api/v2/tickets`` with
``Authorization: Bearer {ZENDESK_OAUTH_TOKEN}``. A 201 (or Zendesk's stored answer to a key it
has seen, ``x-zendesk-idempotency-lookup: hit``) keeps the ticket's id and agent link on the
case. A 429, a 5xx, a timeout or no connection is tried again later (never sooner than
``Retry-After``) through ``retry_due_tickets``, with the same key, so a request Zendesk took
before the answer was lost makes no second ticket. Other refusals fail with Zendesk's own words,
shown on the case.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from packets.leases import hand_back_due
from packets.models import AuditEvent, Case, Decision, ZendeskTicket
from packets.notify.senders import retry_after_seconds

logger = logging.getLogger(__name__)

OPEN_TASK = "packets.integrations.zendesk.open_ticket"
Status = ZendeskTicket.Status
URGENT_RISKS = {Case.Risk.OWNER_ONLY, Case.Risk.CHARGEBACK_WATCH}


def configured() -> bool:
    return bool(settings.ZENDESK_URL and settings.ZENDESK_OAUTH_TOKEN)


def enqueue(ticket_id: int) -> None:
    from backorders.queueing import enqueue_stored

    enqueue_stored(OPEN_TASK, ticket_id, task_name=f"zendesk-ticket-{ticket_id}", what=f"Zendesk ticket {ticket_id}")


# --------------------------------------------------------------------------- escalating


def on_escalated(decision: Decision, case: Case, actor) -> ZendeskTicket | None:
    """The case's ticket, written (or sent again after a failure) in the caller's transaction."""
    if not configured():
        AuditEvent.record(
            "zendesk.not_configured",
            actor=actor,
            case=case,
            summary="Escalated; no Zendesk ticket: set ZENDESK_URL and ZENDESK_OAUTH_TOKEN to open one",
        )
        return None
    ticket = ZendeskTicket.objects.select_for_update().filter(case=case).first()
    if ticket is None:
        try:
            with transaction.atomic():
                ticket = ZendeskTicket.objects.create(
                    case=case,
                    decision=decision,
                    idempotency_key=f"backorder-desk-case-{case.pk}-{uuid.uuid4().hex[:12]}",
                    request=ticket_body(case, decision, actor),
                    requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                )
        except IntegrityError:  # escalated at the same moment elsewhere: that ticket is the one
            return ZendeskTicket.objects.get(case=case)
        AuditEvent.record(
            "zendesk.pending",
            actor=actor,
            case=case,
            obj=ticket,
            summary=f"Opening a Zendesk ticket: {ticket.request['ticket']['subject']}"[:500],
        )
    elif ticket.status == Status.FAILED:
        reason = f"Escalated again: sending the same ticket again (after: {ticket.error})"[:500]
        ticket.set_status(Status.PENDING, actor=actor, reason=reason, attempts=0, next_attempt_at=None, error="")
    else:
        return ticket  # one ticket per case: it is open, or on its way
    transaction.on_commit(lambda: enqueue(ticket.pk))
    return ticket


def ticket_body(case: Case, decision: Decision, actor) -> dict:
    """The ticket as Zendesk's Tickets API takes it. Its one comment is private: nothing in
    Zendesk writes to the customer because of it (the requester is the token's own user)."""
    lines = [
        f"Case {case.pk}: {case.title}",
        f"{case.get_kind_display()} · {case.get_category_display()} · risk: {case.get_risk_level_display()}",
    ]
    order = case.order
    if order is not None:
        lines.append(f"Order {order.number} ({order.get_channel_display()}), placed {order.placed_at:%Y-%m-%d}")
        customer = order.customer
        if customer is not None:
            lines.append(f"Customer: {customer.name or '(no name)'} <{customer.email}>")
    who = (actor.get_full_name() or actor.get_username()) if getattr(actor, "is_authenticated", False) else "the desk"
    lines += ["", f"Escalated by {who}: {decision.note}", "", f"Decision packet: {settings.SITE_URL}/cases/{case.pk}/"]
    return {
        "ticket": {
            "subject": f"Escalated: {case.title}"[:150],
            "comment": {"body": "\n".join(lines), "public": False},
            "priority": "urgent" if case.risk_level in URGENT_RISKS else "high",
            "tags": ["backorder_desk", f"backorder_desk_case_{case.pk}", case.kind],
            "external_id": f"backorder-desk-case-{case.pk}",
        }
    }


# --------------------------------------------------------------------------- sending


def open_ticket(ticket_id: int) -> str:
    """Send one ticket to Zendesk (a django-q2 task). Returns what happened, in words."""
    ticket = _claim(ticket_id)
    if isinstance(ticket, str):
        logger.info("Zendesk ticket row %s not sent: %s", ticket_id, ticket)
        return ticket
    url = f"{settings.ZENDESK_URL}/api/v2/tickets"
    body = json.dumps(ticket.request, sort_keys=True, separators=(",", ":"))
    headers = {
        "Authorization": f"Bearer {settings.ZENDESK_OAUTH_TOKEN}",
        "Idempotency-Key": ticket.idempotency_key,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    try:
        response = requests.post(
            url,
            data=body.encode(),
            headers=headers,
            timeout=(settings.NOTIFY_CONNECT_TIMEOUT, settings.NOTIFY_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.Timeout:
        return _record(
            ticket,
            None,
            "Zendesk did not answer in time (it may have taken the request: the retry sends the same Idempotency-Key)",
        )
    except requests.RequestException as exc:
        return _record(ticket, None, f"Could not reach Zendesk: {exc.__class__.__name__}")
    return _record(ticket, response, "")


def _claim(ticket_id: int) -> ZendeskTicket | str:
    """The row, now ``sending`` and ours; or why there is nothing to do."""
    # Due-ness is decided by whoever enqueued it (the escalation, retry_due_tickets).
    now = timezone.now()
    claimed = ZendeskTicket.objects.filter(pk=ticket_id, status=Status.PENDING).update(
        status=Status.SENDING, sending_started_at=now, attempts=F("attempts") + 1
    )
    ticket = ZendeskTicket.objects.select_related("case").filter(pk=ticket_id).first()
    if ticket is None:
        return "no such ticket"
    if claimed:
        AuditEvent.record(
            "zendesk.sending",
            case=ticket.case,
            obj=ticket,
            summary=f"pending → sending (attempt {ticket.attempts})",
            old=Status.PENDING,
        )
        return ticket
    if ticket.status != Status.SENDING:
        return f"nothing to do: the ticket is {ticket.status}"
    started = ticket.sending_started_at
    if started is not None and started > now - timedelta(seconds=int(settings.Q_CLUSTER["timeout"])):
        return "another worker is sending it now"
    took = ZendeskTicket.objects.filter(pk=ticket_id, status=Status.SENDING, sending_started_at=started).update(
        sending_started_at=now, attempts=F("attempts") + 1
    )
    if not took:
        return "another worker took it over"
    ticket.refresh_from_db()
    AuditEvent.record(
        "zendesk.redelivered",
        case=ticket.case,
        obj=ticket,
        summary="Still sending after the worker stopped: sending again with the same Idempotency-Key",
        started=started,
    )
    return ticket


def _record(ticket: ZendeskTicket, response: requests.Response | None, error: str) -> str:
    now = timezone.now()
    status = response.status_code if response is not None else None
    answer = _answer(response)
    with transaction.atomic():
        locked = ZendeskTicket.objects.select_for_update(of=("self",)).select_related("case").get(pk=ticket.pk)
        if locked.status != Status.SENDING or locked.sending_started_at != ticket.sending_started_at:
            AuditEvent.record(
                "zendesk.late_result",
                case=locked.case,
                obj=locked,
                summary=f"An answer came back after another worker took the ticket over: {status or error}"[:500],
            )
            return "late result ignored"
        fields = {"response": {"status": status, **answer} if response is not None else {}, "next_attempt_at": None}
        found = ((answer.get("body") or {}).get("ticket") or {}).get("id") if status in (200, 201) else None
        if found:
            hit = answer.get("idempotency_lookup") == "hit"
            note = " (Zendesk answered from its record of this Idempotency-Key: no second ticket)" if hit else ""
            locked.set_status(
                Status.CREATED,
                reason=f"Zendesk ticket #{found} opened{note}"[:500],
                ticket_id=int(found),
                url=agent_url(found),
                error="",
                finished_at=now,
                **fields,
            )
            return f"created #{found}"
        error = error or _error_text(status, answer)
        if (status is None or status == 429 or status >= 500 or status in (200, 201)) and (
            locked.attempts < settings.ZENDESK_MAX_ATTEMPTS
        ):
            delay = max(_backoff(locked.attempts), _retry_after(response) or 0.0)
            when = now + timedelta(seconds=delay)
            fields["next_attempt_at"] = when
            locked.set_status(
                Status.PENDING,
                reason=f"{error} (next try after {when:%H:%M:%S} UTC, same Idempotency-Key)"[:500],
                error=error[:4000],
                **fields,
            )
            return f"retry at {when.isoformat()}"
        if status is None or status == 429 or status >= 500:
            error = f"Gave up after {locked.attempts} attempts. Last: {error}"
        locked.set_status(
            Status.FAILED,
            reason=f"Zendesk ticket not opened: {error}"[:500],
            error=error[:4000],
            finished_at=now,
            **fields,
        )
        return f"failed: {error}"


def agent_url(ticket_id) -> str:
    """The ticket in Zendesk's agent interface: https://<subdomain>.zendesk.com/agent/tickets/<id>."""
    return f"{settings.ZENDESK_URL}/agent/tickets/{ticket_id}"


def _answer(response: requests.Response | None) -> dict:
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:2000]}
    return {"body": body, "idempotency_lookup": response.headers.get("x-zendesk-idempotency-lookup", "")}


def _error_text(status: int | None, answer: dict) -> str:
    """Zendesk's own words: ``{"error": ..., "description": ..., "details": {...}}``."""
    body = answer.get("body") or {}
    if not isinstance(body, dict):
        return f"Zendesk answered {status}"
    error = body.get("error")
    if isinstance(error, dict):  # some endpoints nest it: {"error": {"title", "message"}}
        error = ": ".join(str(v) for v in (error.get("title"), error.get("message")) if v)
    parts = [str(error or ""), str(body.get("description") or "")]
    for field, problems in (body.get("details") or {}).items():
        for problem in problems if isinstance(problems, list) else [problems]:
            text = problem.get("description") if isinstance(problem, dict) else problem
            parts.append(f"{field}: {text}")
    words = "; ".join(p for p in parts if p) or body.get("text") or "no explanation"
    return f"Zendesk answered {status}: {words}"


def _backoff(attempts: int) -> float:
    return float(min(settings.ZENDESK_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1), 900))


def _retry_after(response: requests.Response | None) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None


def retry_due_tickets(limit: int = 100) -> int:
    """Scheduled: hand due retries, and rows a lost worker left ``sending``, back to the queue."""
    return hand_back_due(
        ZendeskTicket,
        waiting=[Status.PENDING],
        running=Status.SENDING,
        started_field="sending_started_at",
        enqueue=enqueue,
        limit=limit,
    )
