"""The owner's Slack alerts: one message per case that needs them, per case state.

A case needs the owner when it is open or awaiting the owner and its risk is owner-only or
chargeback watch, or a customer waits for a person's answer due within
``SLACK_REPLY_DUE_WITHIN_HOURS`` (or already overdue). ``post_owner_alerts(now)`` runs after each
sweep (``AFTER_SWEEP``): each such case whose current state (packet version, status and reasons)
has no alert yet gets one ``chat.postMessage`` to ``SLACK_OWNER_CHANNEL``; the same state on the
next sweep posts nothing. The message is Block Kit: why now, the packet's summary and facts, the
recommendation and its reason, the risk, what accepting would approve, and two buttons, "Accept
recommendation" (its value names the case, the packet version and the drafts shown) and "Open"
(the case page).
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backorders.formats.money import format_money
from packets.accept import Acceptance, acceptance_for, with_drafts
from packets.decisions import describe_decision
from packets.integrations.slack.posting import configured, enqueue, queue_post
from packets.models import Case, Decision, Packet, SlackPost

ACCEPT = "accept_recommendation"
OPEN = "open_case"
POST_METHOD = "chat.postMessage"
OWNER_RISKS = (Case.Risk.OWNER_ONLY, Case.Risk.CHARGEBACK_WATCH)
NEEDING_STATUSES = (Case.Status.OPEN, Case.Status.AWAITING_OWNER)
MAX_FACTS = 6


def escape(text) -> str:
    """Text safe inside Slack mrkdwn: ``&``, ``<`` and ``>`` escaped, as Slack asks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def case_link(case_id: int) -> str:
    return f"{settings.SITE_URL}/cases/{case_id}/"


def reasons_for(case: Case, now: datetime) -> dict[str, str]:
    """Why this case needs the owner now: a short flag for each reason, and its words (empty: it does not)."""
    reasons = {}
    if case.risk_level in OWNER_RISKS:
        reasons[case.risk_level] = f"risk is {case.get_risk_level_display().lower()}"
    if case.reply_due_at is not None:
        if case.reply_overdue or case.reply_due_at <= now:
            reasons["reply_overdue"] = "the customer's reply deadline has passed"
        elif case.reply_due_at <= now + timedelta(hours=settings.SLACK_REPLY_DUE_WITHIN_HOURS):
            local = case.reply_due_at.astimezone(zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE))
            reasons["reply_due"] = f"the customer must have an answer by {local:%b %-d, %H:%M} ({local.tzname()})"
    return reasons


def state_key(case: Case, packet: Packet | None, reasons: dict[str, str]) -> str:
    """The case's state as far as the owner's alert goes: packet version, status, reasons."""
    version = packet.version if packet is not None else 0
    return f"v{version}:{case.status}:{'+'.join(sorted(reasons))}"[:100]


def candidates(now: datetime):
    due_soon = now + timedelta(hours=settings.SLACK_REPLY_DUE_WITHIN_HOURS)
    return with_drafts(
        Case.objects.filter(status__in=NEEDING_STATUSES)
        .filter(Q(risk_level__in=OWNER_RISKS) | Q(reply_due_at__lte=due_soon) | Q(reply_overdue=True))
        .select_related("order")
        .order_by("-risk_rank", "id")
    )


def post_owner_alerts(now: datetime | None = None) -> int:
    """After a sweep: an alert for each case that needs the owner in a state not alerted yet (how
    many), and the buttons taken off alerts whose case has moved on."""
    if configured() or not settings.SLACK_OWNER_CHANNEL:
        return 0
    now = now or timezone.now()
    wanted = []
    for case in candidates(now):
        reasons = reasons_for(case, now)
        if not reasons:
            continue
        packet = case.latest_packets[0] if case.latest_packets else None
        acceptance = acceptance_for(case, packet) if packet is not None else None
        wanted.append((case, acceptance, reasons, state_key(case, packet, reasons)))
    close_moved_on({(case.pk, key) for case, *_, key in wanted}, {case.pk for case, *_ in wanted})
    if not wanted:
        return 0
    taken = set(
        SlackPost.objects.filter(case__in=[c for c, *_ in wanted], state_key__in=[k for *_, k in wanted]).values_list(
            "case_id", "state_key"
        )
    )
    rows = [
        SlackPost(case=case, method=POST_METHOD, state_key=key, request=message(case, acceptance, reasons))
        for case, acceptance, reasons, key in wanted
        if (case.pk, key) not in taken
    ]
    if not rows:
        return 0
    with transaction.atomic():
        # a concurrent run may have written the same state: the constraint keeps one
        SlackPost.objects.bulk_create(rows, ignore_conflicts=True)
        ids = list(
            SlackPost.objects.filter(
                status=SlackPost.Status.PENDING,
                attempts=0,
                state_key__in=[r.state_key for r in rows],
                case__in=[r.case for r in rows],
            ).values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: [enqueue(pk) for pk in ids])
    return len(ids)


# --------------------------------------------------------------------------- closing alerts


def close_moved_on(current: set[tuple[int, str]], needing: set[int]) -> int:
    """Sent alerts whose case is no longer in the state they showed (decided on the desk, resolved,
    changed) lose their buttons and say why; how many. ``current`` is the (case, state) of every
    case that needs the owner now, ``needing`` their ids."""
    moved = [
        alert
        for alert in SlackPost.objects.filter(method=POST_METHOD, status=SlackPost.Status.SENT, closed_at__isnull=True)
        .exclude(state_key="")
        .select_related("case")
        if alert.case is not None and (alert.case_id, alert.state_key) not in current
    ]
    if not moved:
        return 0
    decided = {}
    for decision in (
        Decision.objects.filter(case__in=[a.case_id for a in moved], status=Decision.Status.APPROVED)
        .select_related("decided_by")
        .order_by("case_id", "-decided_at", "-id")
    ):
        decided.setdefault(decision.case_id, decision)
    with transaction.atomic():
        for alert in moved:
            close(alert, why_closed(alert.case, decided.get(alert.case_id), alert.case_id in needing))
    return len(moved)


def why_closed(case: Case, decision: Decision | None, still_needed: bool) -> str:
    if case.status == Case.Status.RESOLVED:
        return f"Resolved: {case.resolution}" if case.resolution else "Resolved."
    if still_needed:
        return "The case changed since this message: the newer message has its buttons."
    if decision is not None and case.status in (Case.Status.WAITING, Case.Status.ACTIONED):
        return f"Decided: {describe_decision(decision)}."
    return f"No longer waiting on you: the case is {case.get_status_display().lower()}."


def close(alert: SlackPost, text: str) -> SlackPost:
    """The alert updated in Slack (``chat.update``, after commit): its buttons give way to ``text``
    and "Open" stays."""
    blocks = [b for b in alert.request.get("blocks") or [] if isinstance(b, dict) and b.get("type") != "actions"]
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f":white_check_mark: {escape(text)}"[:2900]}})
    if alert.case is not None:
        blocks.append({"type": "actions", "block_id": f"case-{alert.case_id}", "elements": [open_button(alert.case)]})
    SlackPost.objects.filter(pk=alert.pk).update(closed_at=timezone.now())
    return queue_post(
        "chat.update", {"channel": alert.channel, "ts": alert.ts, "text": text, "blocks": blocks}, case=alert.case
    )


# --------------------------------------------------------------------------- the message


def message(case: Case, acceptance: Acceptance | None, reasons: dict[str, str]) -> dict:
    """The ``chat.postMessage`` body: Block Kit, with a plain-text fallback."""
    title = f"Needs you: {case.title}"
    why = "; ".join(reasons.values())
    return {
        "channel": settings.SLACK_OWNER_CHANNEL,
        "text": f"{title} ({why})",
        "unfurl_links": False,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Why now:* " + escape(why)}},
            *summary_blocks(case, acceptance),
            actions_block(case, acceptance),
        ],
    }


def summary_blocks(case: Case, acceptance: Acceptance | None) -> list[dict]:
    if acceptance is None:
        words = "The packet makes no recommendation yet: open the case to decide."
        return [{"type": "section", "text": {"type": "mrkdwn", "text": words}}]
    content = acceptance.packet.content or {}
    order = content.get("order") or {}
    fields = [
        f"*Risk:*\n{escape(case.get_risk_level_display())}",
        f"*Evidence:*\n{escape(acceptance.packet.evidence_strength or 'unknown')}",
        f"*Recommendation:*\n{escape(acceptance.action_label)}",
    ]
    if order.get("number"):
        fields.append(
            f"*Order:*\n{escape(order['number'])}" + (f" · {escape(order_value(order))}" if order.get("value") else "")
        )
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(content.get("summary") or case.title)[:2900]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:1900]} for f in fields]},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*Recommended: {escape(acceptance.action_label)}.* {escape(acceptance.note)}"[:2900],
            },
        },
    ]
    facts = facts_of(content)
    if facts:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f"• {escape(f)}" for f in facts)[:2900]}}
        )
    if acceptance.messages:
        count = len(acceptance.messages)
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Accepting also approves {count} drafted customer message{'s' if count != 1 else ''} "
                        "(read them on the case page).",
                    }
                ],
            }
        )
    return blocks


def order_value(order: dict) -> str:
    """The order's value as people read it (as the packet wrote it when it is not an amount)."""
    try:
        return format_money(order["value"], order.get("currency") or None)
    except (TypeError, ValueError):
        return str(order["value"])


def facts_of(content: dict) -> list[str]:
    """The packet's facts worth a glance: the customer's signals, the supplier's latest word, what is uncertain."""
    facts = list((content.get("customer_risk") or {}).get("signals") or [])
    updates = (content.get("supplier") or {}).get("updates") or []
    if updates and isinstance(updates[-1], dict) and updates[-1].get("summary"):
        facts.append(f"Supplier: {updates[-1]['summary']}")
    tracking = content.get("tracking") or {}
    if tracking.get("status"):
        facts.append(f"Parcel: {tracking.get('carrier') or 'carrier'} {str(tracking['status']).replace('_', ' ')}")
    facts += list((content.get("evidence") or {}).get("uncertainty") or [])
    return [str(f) for f in facts if f][:MAX_FACTS]


def accept_value(acceptance: Acceptance) -> str:
    """What the Accept button carries back: the case, the packet version read, the drafts shown."""
    return json.dumps(
        {
            "case": acceptance.case.pk,
            "version": acceptance.packet.version,
            "messages": [m.pk for m in acceptance.messages],
        },
        separators=(",", ":"),
    )


def open_button(case: Case) -> dict:
    return {
        "type": "button",
        "action_id": OPEN,
        "text": {"type": "plain_text", "text": "Open"},
        "url": case_link(case.pk),
    }


def actions_block(case: Case, acceptance: Acceptance | None) -> dict:
    elements = []
    if acceptance is not None:
        elements.append(
            {
                "type": "button",
                "action_id": ACCEPT,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Accept recommendation"},
                "value": accept_value(acceptance),
            }
        )
    elements.append(open_button(case))
    return {"type": "actions", "block_id": f"case-{case.pk}", "elements": elements}
