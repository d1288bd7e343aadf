"""Buttons pressed in Slack: verified, kept, then applied once by the worker.

Slack posts each press to ``/integrations/slack/interactions/`` as a form with one ``payload``
field (JSON, ``type: block_actions``). The post is checked before anything is kept, with
slack-sdk's ``SignatureVerifier``: ``X-Slack-Signature`` must be ``v0=`` + hex
HMAC-SHA256(``SLACK_SIGNING_SECRET``, ``v0:{X-Slack-Request-Timestamp}:{raw body}``), and the
timestamp within five minutes of now (a replay is refused). A post that does not verify gets 401
with the reason; a body of the wrong shape 400. The view answers at once (Slack waits 3 seconds);
the work is the worker's.

A press of "Accept recommendation" is kept as a ``SlackInteraction`` keyed by who pressed, the
press's ``action_ts`` and the button: Slack's retries of a press (``X-Slack-Retry-Num``) are the
same row, applied once. ``apply_interaction`` (a django-q2 task) finds the desk user the Slack user
is linked to (``manage.py link_slack_user``) and runs ``packets.accept.accept`` as that user, the
verb behind the case page's button, with its role checks and the packet version and drafts the
message showed. Then the message is updated (``chat.update``) to say who accepted what. A press
that cannot act (not linked, the case decided already, a role that does not reach, a newer
packet) is told to the presser only (``chat.postEphemeral``), naming who decided when someone did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import timedelta
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from backorders.queueing import enqueue_stored
from backorders.roles import is_staff_member
from packets.accept import accept
from packets.decisions import describe_decision, earlier_decision
from packets.integrations.slack.alerts import ACCEPT, POST_METHOD, close
from packets.integrations.slack.posting import queue_post
from packets.models import AuditEvent, Case, Decision, IllegalTransition, SlackInteraction, SlackLink, SlackPost

logger = logging.getLogger(__name__)

APPLY_TASK = "packets.integrations.slack.interactions.apply_interaction"
SIGNATURE = "X-Slack-Signature"
TIMESTAMP = "X-Slack-Request-Timestamp"
RETRY_NUM = "X-Slack-Retry-Num"
TOLERANCE_SECONDS = 60 * 5
MAX_BODY_BYTES = 200_000
NOT_LINKED = (
    "Your Slack user is not linked to a desk user, so the desk cannot act for you. The owner links you with "
    "`python manage.py link_slack_user USERNAME {slack_user_id}`."
)


class Refused(Exception):
    def __init__(self, reason: str, status: int = 401):
        super().__init__(reason)
        self.status = status


# --------------------------------------------------------------------------- the endpoint


def verify(headers, body: bytes, *, now: float | None = None) -> None:
    """Raise ``Refused`` unless the post is signed with the signing secret and fresh."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        raise Refused("SLACK_SIGNING_SECRET is not set: Slack's posts are refused until it is")
    signature, stamp = headers.get(SIGNATURE, ""), headers.get(TIMESTAMP, "")
    if not signature or not stamp:
        raise Refused(f"{SIGNATURE} and {TIMESTAMP} are required")
    try:
        sent = int(stamp)
    except ValueError:
        raise Refused(f"{TIMESTAMP} is not a Unix time") from None
    if abs((time.time() if now is None else now) - sent) > TOLERANCE_SECONDS:
        raise Refused(f"the request timestamp {stamp} is stale (more than five minutes from now)")
    try:
        valid = SignatureVerifier(secret).is_valid(body, stamp, signature)
    except UnicodeDecodeError:
        raise Refused("the body is not UTF-8", status=400) from None
    if not valid:
        raise Refused("the signature does not match the body and timestamp")


def read_press(body: bytes) -> dict | None:
    """The press's payload when it is an "Accept recommendation" press; None for other actions."""
    fields = parse_qs(body.decode(), keep_blank_values=True)
    raw = (fields.get("payload") or [""])[0]
    try:
        payload = json.loads(raw)
    except ValueError:
        raise Refused("the form has no JSON payload field", status=400) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), dict):
        raise Refused("the payload is not a Slack interaction", status=400)
    actions = payload.get("actions")
    if payload.get("type") != "block_actions" or not isinstance(actions, list) or not actions:
        return None
    if not isinstance(actions[0], dict) or actions[0].get("action_id") != ACCEPT:
        return None
    if not str(payload["user"].get("id") or ""):
        raise Refused("the payload names no Slack user", status=400)
    return payload


def press_key(payload: dict) -> str:
    action = payload["actions"][0]
    parts = [payload["user"].get("id"), action.get("action_ts"), action.get("action_id"), action.get("value")]
    if not action.get("action_ts"):
        parts.append(json.dumps(payload, sort_keys=True))
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


@csrf_exempt
@login_not_required
@require_POST
def interaction_endpoint(request: HttpRequest) -> HttpResponse:
    """Slack's post of a button press: verified, kept and queued; answered at once."""
    body = request.body
    try:
        if len(body) > MAX_BODY_BYTES:
            raise Refused("the body is too large", status=413)
        verify(request.headers, body)
        payload = read_press(body)
    except Refused as exc:
        logger.warning("Slack interaction refused: %s", exc)
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain")
    if payload is None:
        return HttpResponse(status=200)  # "Open" opens the page in the browser: nothing to do here
    retry = request.headers.get(RETRY_NUM, "")
    kept = keep(payload, retried=retry.isdigit() and int(retry) > 0)
    logger.info("Slack press kept as interaction %s (retry %s)", kept.pk, retry or "0")
    return HttpResponse(status=200)


def keep(payload: dict, *, retried: bool = False) -> SlackInteraction:
    """The press's row, written once (a retry of the same press finds it) and queued after commit."""
    key = press_key(payload)
    try:
        with transaction.atomic():
            row = SlackInteraction.objects.create(
                key=key,
                payload=payload,
                slack_user_id=str(payload["user"].get("id"))[:32],
                action_id=ACCEPT,
            )
            transaction.on_commit(lambda: enqueue(row.pk))
            return row
    except IntegrityError:
        SlackInteraction.objects.filter(key=key).update(retries_seen=F("retries_seen") + int(retried))
        return SlackInteraction.objects.get(key=key)


def enqueue(interaction_id: int) -> None:
    enqueue_stored(
        APPLY_TASK, interaction_id, task_name=f"slack-press-{interaction_id}", what=f"Slack press {interaction_id}"
    )


# --------------------------------------------------------------------------- applying a press


def apply_interaction(interaction_id: int) -> str:
    """Apply one kept press (a django-q2 task), once: the row is locked and moves to applied in the
    same transaction as the decision and the replies to Slack it queues."""
    with transaction.atomic():
        row = (
            SlackInteraction.objects.select_for_update()
            .filter(pk=interaction_id, status=SlackInteraction.Status.RECEIVED)
            .first()
        )
        if row is None:
            return "nothing to do (already applied)"
        outcome = _apply(row)
        row.status = SlackInteraction.Status.APPLIED
        row.outcome = outcome[:2000]
        row.applied_at = timezone.now()
        row.save(update_fields=["status", "outcome", "applied_at", "user", "case"])
    return outcome


def _apply(row: SlackInteraction) -> str:
    payload = row.payload
    pressed = _button(payload)
    row.case = pressed[0] if pressed else None
    link = SlackLink.objects.select_related("user").filter(slack_user_id=row.slack_user_id).first()
    if link is None or not link.user.is_active or not is_staff_member(link.user):
        return _tell(payload, NOT_LINKED.format(slack_user_id=row.slack_user_id))
    user = row.user = link.user
    if pressed is None:
        return _tell(payload, "This button names no case on the desk; open the case on the desk.")
    case, version, message_ids = pressed
    try:
        with transaction.atomic():
            decision = accept(case.pk, user, packet_version=version, message_ids=message_ids)
            AuditEvent.record(
                "slack.accepted",
                actor=user,
                case=case,
                obj=decision,
                summary=f"Accepted from Slack (Slack user {row.slack_user_id}): {decision.get_action_display()}",
                slack_user_id=row.slack_user_id,
                packet_version=version,
            )
    except (ValidationError, PermissionDenied, IllegalTransition) as exc:
        earlier = _earlier(case, version)
        if earlier is not None:
            _update(payload, f"Decided: {describe_decision(earlier)}.")
            return _tell(payload, f"Already decided: {describe_decision(earlier)}.")
        reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return _tell(payload, f"Not accepted: {reason}")
    who = user.get_full_name() or user.get_username()
    approved = f" and approved {len(message_ids)} customer message{'s' if len(message_ids) != 1 else ''}"
    done = f"{who} accepted the recommendation: {decision.get_action_display()}{approved if message_ids else ''}."
    _update(payload, done)
    return done


def _button(payload: dict) -> tuple[Case, int, list[int]] | None:
    """What the pressed button names: the case, the packet version and the drafts the message showed."""
    try:
        value = json.loads(payload["actions"][0].get("value") or "")
        case_id, version = int(value["case"]), int(value["version"])
        message_ids = [int(m) for m in value.get("messages") or []]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    case = Case.objects.filter(pk=case_id).first()
    return (case, version, message_ids) if case is not None else None


def _earlier(case: Case, version: int) -> Decision | None:
    packet = case.packets.filter(version=version).first()
    return earlier_decision(case, packet) if packet is not None else None


def _where(payload: dict) -> tuple[str, str]:
    container = payload.get("container") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or (payload.get("message") or {}).get("ts") or ""
    return str(channel), str(ts)


def _tell(payload: dict, text: str) -> str:
    """Say ``text`` to the presser only (``chat.postEphemeral``), after commit."""
    channel, _ = _where(payload)
    if channel:
        queue_post("chat.postEphemeral", {"channel": channel, "user": payload["user"]["id"], "text": text})
    return text


def _update(payload: dict, text: str) -> None:
    """The pressed alert, updated to say ``text`` instead of its buttons (once)."""
    channel, ts = _where(payload)
    alert = SlackPost.objects.filter(channel=channel, ts=ts, method=POST_METHOD).select_related("case").first()
    if alert is None:
        logger.warning("A press on a Slack message the desk did not post (%s %s): not updated", channel, ts)
    elif alert.closed_at is None:  # closed: it says what happened already
        close(alert, text)


def apply_received(limit: int = 100) -> int:
    """Scheduled: queue presses kept but never applied (their enqueue was lost). A press older than
    a day is left as it is (shown in the admin): nobody waits on it any more."""
    now = timezone.now()
    lost = now - timedelta(seconds=int(settings.Q_CLUSTER["retry"]))
    ids = list(
        SlackInteraction.objects.filter(
            status=SlackInteraction.Status.RECEIVED, received_at__lt=lost, received_at__gt=now - timedelta(days=1)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        enqueue(pk)
    return len(ids)
