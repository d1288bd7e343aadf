"""Zendesk: comments on a case's ticket come back in, as the same kind of reply as an email.

Zendesk posts its ``zen:event-type:ticket.comment_added`` event to ``/webhooks/zendesk/`` (a
webhook subscribed to that event, signing secret in ``ZENDESK_WEBHOOK_SECRET``). A post is
checked before anything is kept: ``X-Zendesk-Webhook-Signature`` must be
base64(HMAC-SHA256(secret, timestamp + raw body)) with the timestamp of
``X-Zendesk-Webhook-Signature-Timestamp``, and that timestamp within
``ZENDESK_WEBHOOK_TOLERANCE_SECONDS`` of now (an old post sent again is refused). A post that does
not verify gets 401 with the reason, a body of the wrong shape 400, another event type 200 and
nothing kept.

A comment is kept raw (an ``InboundMail`` row of source ``zendesk``, one per comment, so
Zendesk's retry keeps one), then ``apply_comment(mail_id)`` reads it on the worker
(``apply_received_comments`` catches up any whose enqueue was lost). The ticket's case is found
through the ``ZendeskTicket`` row its escalation opened. Only a public comment whose author is the
ticket's requester is the customer's words: it lands on the case as an ``InboundMessage``, scored,
and the case reacts at once exactly as it does to an email (``replies.land``). An agent's comment,
an internal note or another person's comment is kept beside the case and not scored; a comment on
a ticket no case opened waits on the "unmatched replies" page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from backorders.intake.common import q_options
from backorders.queueing import enqueue_stored
from packets.models import InboundMail, ZendeskTicket
from packets.notify import replies

logger = logging.getLogger(__name__)

APPLY_TASK = "packets.integrations.zendesk_comments.apply_comment"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
MAX_BODY_BYTES = 1_000_000


class Refused(Exception):
    def __init__(self, reason: str, status: int = 401):
        super().__init__(reason)
        self.status = status


# --------------------------------------------------------------------------- the webhook


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    """What Zendesk sends in ``X-Zendesk-Webhook-Signature`` for this timestamp and body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(headers, body: bytes, *, now: datetime | None = None) -> None:
    """Raise ``Refused`` unless the post is signed with the secret and fresh."""
    secret = settings.ZENDESK_WEBHOOK_SECRET
    if not secret:
        raise Refused("ZENDESK_WEBHOOK_SECRET is not set: Zendesk webhooks are refused until it is")
    signature, stamp = headers.get(SIGNATURE, ""), headers.get(TIMESTAMP, "")
    if not signature or not stamp:
        raise Refused(f"{SIGNATURE} and {TIMESTAMP} are required")
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("the signature is not base64") from None
    expected = base64.b64decode(signature_of(secret, stamp, body))
    if not hmac.compare_digest(given, expected):
        raise Refused("the signature does not match the body and timestamp")
    try:
        sent_at = parse_datetime(stamp)
    except ValueError:
        sent_at = None
    if sent_at is None or timezone.is_naive(sent_at):
        raise Refused("the signature timestamp is not an ISO 8601 time with a zone")
    tolerance = timedelta(seconds=settings.ZENDESK_WEBHOOK_TOLERANCE_SECONDS)
    if abs((now or timezone.now()) - sent_at) > tolerance:
        raise Refused(f"the signature timestamp {stamp} is stale (more than {tolerance} from now)")


@csrf_exempt
@login_not_required
@require_POST
def comment_webhook(request: HttpRequest) -> HttpResponse:
    """Zendesk's post of a ticket event: verified, and a new comment kept and queued."""
    body = request.body
    try:
        if len(body) > MAX_BODY_BYTES:
            raise Refused("the body is too large", status=413)
        verify(request.headers, body)
        try:
            event = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise Refused("the body is not JSON", status=400) from None
        if not isinstance(event, dict):
            raise Refused("the body is not a Zendesk event", status=400)
        if event.get("type") != COMMENT_ADDED:
            return HttpResponse(f"ignored: {str(event.get('type'))[:100]}", content_type="text/plain")
        comment = read_event(event)
    except Refused as exc:
        logger.warning("Zendesk webhook refused: %s", exc)
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain")
    mail = store(comment, body.decode())
    return HttpResponse(f"kept as reply {mail.pk}", content_type="text/plain")


def read_event(event: dict) -> dict:
    """The fields of a comment_added event the desk uses; ``Refused`` (400) when one is missing."""
    detail, comment = event.get("detail"), (event.get("event") or {}).get("comment")
    if not isinstance(detail, dict) or not isinstance(comment, dict):
        raise Refused("a comment_added event carries detail and event.comment", status=400)
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    try:
        ticket_id = int(detail["id"])
        comment_id = str(comment["id"])
    except (KeyError, TypeError, ValueError):
        raise Refused("the event names no ticket id or comment id", status=400) from None
    if not comment_id or len(comment_id) > 100:
        raise Refused("the comment id is not one Zendesk gives", status=400)
    return {
        "ticket_id": ticket_id,
        "comment_id": comment_id,
        "body": str(comment.get("body") or ""),
        "public": comment.get("is_public") is True,
        "author_id": str(author.get("id") or ""),
        "author_is_staff": bool(author.get("is_staff")),
        "requester_id": str(detail.get("requester_id") or ""),
    }


def store(comment: dict, raw: str) -> InboundMail:
    """Keep the comment as it came and queue its reading; the same comment again returns the first row."""
    message_id = f"zendesk-comment-{comment['comment_id']}"
    try:
        with transaction.atomic():
            existing = InboundMail.objects.filter(source=InboundMail.Source.ZENDESK, message_id=message_id).first()
            if existing is not None:
                return existing
            mail = InboundMail.objects.create(
                source=InboundMail.Source.ZENDESK,
                message_id=message_id,
                # the ticket's subject is the store's words (the escalation's title), never scored as the customer's
                subject=f"Comment on Zendesk ticket {comment['ticket_id']}",
                raw=raw,
                stripped_text=comment["body"],
            )
            transaction.on_commit(lambda: _enqueue(mail.pk))
    except IntegrityError:  # Zendesk's retry arrived at the same moment: the other post keeps it
        return InboundMail.objects.get(source=InboundMail.Source.ZENDESK, message_id=message_id)
    return mail


def _enqueue(mail_id: int) -> None:
    enqueue_stored(
        APPLY_TASK,
        mail_id,
        what=f"Zendesk comment {mail_id}",
        task_name=f"zendesk-comment-{mail_id}",
        q_options=q_options(),
    )


# --------------------------------------------------------------------------- reading


def apply_comment(mail_id: int) -> str:
    """Read one kept Zendesk comment and put it on its case (the worker's task). Returns what happened."""
    with transaction.atomic():
        mail = InboundMail.objects.select_for_update().filter(pk=mail_id, source=InboundMail.Source.ZENDESK).first()
        if mail is None:
            return "no such Zendesk comment"
        if mail.status != InboundMail.Status.RECEIVED:
            return f"already read: {mail.get_status_display()}"
        comment = read_event(json.loads(mail.raw))
        ticket = (
            ZendeskTicket.objects.select_related("case__order__customer").filter(ticket_id=comment["ticket_id"]).first()
        )
        if ticket is None:
            mail.status = InboundMail.Status.UNMATCHED
            mail.note = f"a comment on Zendesk ticket {comment['ticket_id']}, which no case opened"
            mail.save(update_fields=["status", "note"])
            return f"unmatched: {mail.note}"
        case = ticket.case
        customer = case.order.customer if case.order is not None else None
        mail.from_address = (customer.email if customer is not None else "")[:255]
        not_theirs = _not_the_customers_words(comment)
        if not_theirs:
            mail.status, mail.case, mail.matched_by = (
                InboundMail.Status.NOT_CUSTOMER,
                case,
                InboundMail.MatchedBy.TICKET,
            )
            mail.note = f"Not scored: {not_theirs}"[:500]
            mail.save(update_fields=["status", "case", "matched_by", "note", "from_address"])
            return mail.note
        mail.save(update_fields=["from_address"])
        note = f"a public comment by the requester of Zendesk ticket {comment['ticket_id']}"
        inbound = replies.land(mail, None, case, InboundMail.MatchedBy.TICKET, note)
    return f"on case {case.pk} (Zendesk ticket): {', '.join(inbound.intents) or 'no intents'}"


def _not_the_customers_words(comment: dict) -> str:
    """Why this comment is not the customer speaking to the store, or "" when it is."""
    if not comment["public"]:
        return "an internal note"
    if comment["author_is_staff"]:
        return "a comment by an agent"
    if not comment["requester_id"] or comment["author_id"] != comment["requester_id"]:
        return "a comment by someone other than the ticket's requester"
    if not comment["body"].strip():
        return "a comment with no text"
    return ""


def apply_received_comments(older_than_seconds: int = 60, limit: int = 500) -> int:
    """Read the kept comments still unread after a while (their enqueue was lost), oldest first.
    One that fails does not stop the others; the run then raises, naming them."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        InboundMail.objects.filter(
            source=InboundMail.Source.ZENDESK, status=InboundMail.Status.RECEIVED, received_at__lt=cutoff
        )
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    failed = []
    for mail_id in ids:
        try:
            apply_comment(mail_id)
        except Exception:
            logger.exception("Zendesk comment %s failed while catching up", mail_id)
            failed.append(mail_id)
    if failed:
        raise RuntimeError(f"{len(failed)} kept Zendesk comments could not be read: {failed[:20]}")
    return len(ids)
