"""Accepting a case's recommendation in one step: the decision and the drafted customer message.

``accept`` records the recommended decision (its note prefilled with the recommendation's reason)
and approves the customer drafts the person was shown, in one transaction: both happen or neither
does. It goes through the same verbs as the two separate steps (``decisions.decide`` and
``messaging.approve_message``), so each step is audited and role-checked as it always is, and a
second decision on the same packet version is refused, naming the first. Support accepts only
where the policy lets support act: no owner-only action, no amount over the money boundary, no
message only the owner approves.

``routine_cases`` is the owner's routine view: open cases on consistent evidence, with no
chargeback watch, no owner-only risk and no money over the boundary, whose drafts are clean.
``accept_all`` accepts each of them on its own and reports by order number.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, OuterRef, Prefetch, Subquery
from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import StorePolicy
from backorders.roles import is_owner, is_staff_member
from packets import decisions
from packets.models import AuditEvent, Case, Decision, IllegalTransition, Message, Packet
from packets.notify import channels
from packets.notify.compose import OFFER as OFFER_STEP
from packets.notify.messaging import approve_message, can_approve
from packets.sweep.refresh import refreshing_together

ROUTINE_EVIDENCE = "confirmed"
ROUTINE_UNSAFE_RISKS = frozenset({Case.Risk.OWNER_ONLY, Case.Risk.CHARGEBACK_WATCH})
CHECK_HOUR = time(9, 0)
FALLBACK_NOTE = "Accepted the packet's recommendation."


@dataclass
class Acceptance:
    """What accepting a case's recommendation would do, as the confirmation shows it."""

    case: Case
    packet: Packet
    action: str
    note: str
    amount: Decimal | None
    currency: str
    messages: list[Message]
    option: dict = field(default_factory=dict)  # the recommended option as the packet lists it

    @property
    def action_label(self) -> str:
        return Decision.Action(self.action).label

    @property
    def offer_to_make(self) -> str:
        """What the decision asks people to offer the customer that the drafted update does not say
        (empty when there is nothing): the owner must not take the update for the offer. Once the
        offer is drafted, the confirmation shows it and accepting approves it: nothing is left."""
        if self.action == Decision.Action.OFFER_REPLACEMENT and not self.offer_drafted:
            return (
                "The update does not offer the replacement: accepting drafts the offer (the customer must "
                "agree to it) for approval. Draft it first to read and approve it here."
            )
        return ""

    @property
    def offer_drafted(self) -> bool:
        return any(message.step == OFFER_STEP for message in self.messages)


def _recommended_option(packet: Packet) -> dict:
    for option in (packet.content or {}).get("options") or []:
        if option.get("action") == packet.recommendation:
            return option
    return {}


def _recommended_amount(packet: Packet) -> Decimal | None:
    """The money the recommended option moves (a refund's amount), when the packet states one."""
    content = packet.content or {}
    action = packet.recommendation
    if action not in (Decision.Action.REFUND, Decision.Action.CANCEL):
        return None
    for option in content.get("options") or []:
        if option.get("action") == action and option.get("cost") not in (None, ""):
            return Decimal(str(option["cost"]))
    return None


def _customer_drafts(case: Case) -> list[Message]:
    prefetched = getattr(case, "customer_drafts", None)
    if prefetched is not None:
        return prefetched
    return list(
        case.messages.filter(status=Message.Status.DRAFT, audience=Message.Audience.CUSTOMER).order_by("created_at")
    )


def acceptance_for(case: Case, packet: Packet | None = None) -> Acceptance | None:
    """What accepting this case's recommendation records and sends; None without a packet."""
    packet = packet or case.latest_packet
    if packet is None or not packet.recommendation:
        return None
    content = packet.content or {}
    reason = packet.recommendation_reason or (content.get("recommendation") or {}).get("reason") or ""
    currency = (content.get("order") or {}).get("currency") or (case.order.currency if case.order_id else "")
    drafts = _customer_drafts(case)
    for message in drafts:
        message.case = case  # owner_reason reads the case's risk
    return Acceptance(
        case=case,
        packet=packet,
        action=packet.recommendation,
        note=reason.strip() or FALLBACK_NOTE,
        amount=_recommended_amount(packet),
        currency=currency or settings.STORE_CURRENCY,
        messages=drafts,
        option=_recommended_option(packet),
    )


def why_not(acceptance: Acceptance, user, policy: StorePolicy) -> str:
    """Why this person cannot accept in one step (empty when they can). The owner's authority is
    the owner's: nothing here is "the owner's call" for the owner."""
    case = acceptance.case
    if not case.is_open:
        return "the case is resolved"
    if case.status == Case.Status.ACTIONED:
        return "already decided"
    owner = is_owner(user)
    if not owner and decisions.needs_owner(acceptance.action, acceptance.amount, policy):
        return f"only the owner can accept “{acceptance.action_label}”"
    for message in acceptance.messages:
        if not can_approve(user, message):
            return f"only the owner approves its message: {message.owner_reason}"
        if message.guideline_issues:
            return "its draft breaks the store's message guidelines: " + "; ".join(message.guideline_issues)
        unset = channels.not_ready(message.channel)
        if unset:
            return f"its message cannot be sent: {unset}"
    return ""


def why_not_routine(acceptance: Acceptance, user, policy: StorePolicy) -> str:
    """Why this case is not in the routine view (empty when it is)."""
    case = acceptance.case
    if case.status != Case.Status.OPEN:
        return f"status is {case.get_status_display().lower()}"
    if acceptance.packet.evidence_strength != ROUTINE_EVIDENCE:
        return f"evidence is {acceptance.packet.evidence_strength}"
    if acceptance.packet.risk_level in ROUTINE_UNSAFE_RISKS:
        return f"risk is {case.get_risk_level_display().lower()}"
    if acceptance.amount is not None and acceptance.amount > policy.money_boundary:
        return "the money is over the store's boundary"
    cost = acceptance.option.get("cost")
    replacing = acceptance.action == Decision.Action.OFFER_REPLACEMENT and cost not in (None, "")
    if replacing and Decimal(str(cost)) > policy.replacement_boundary:
        return "the replacement costs more than the store's boundary"
    return why_not(acceptance, user, policy)


def next_check_default(policy: StorePolicy, now: datetime | None = None) -> datetime:
    """Two business days from today, at 9:00 in the store's time zone (as the Decide form offers)."""
    calendar = BusinessCalendar.for_policy(policy)
    day = calendar.add_business_days(calendar.local_date(now or timezone.now()), 2)
    return datetime.combine(day, CHECK_HOUR, tzinfo=zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE))


def accept(
    case_id: int,
    user,
    *,
    packet_version: int,
    message_ids: list[int],
    note: str | None = None,
    next_check_at: datetime | None = None,
) -> Decision:
    """Record the recommended decision and approve the shown customer drafts, in one transaction.

    ``packet_version`` is the version the person read and ``message_ids`` the drafts they were
    shown: a newer packet is refused (by ``decide``), a shown draft that is no longer a draft
    refuses the whole acceptance, and a draft they were not shown is left alone. Refused with
    PermissionDenied where the person's role does not reach (see ``why_not``)."""
    if not is_staff_member(user):
        raise PermissionDenied("Only the store's owner and support staff can work on cases.")
    policy = StorePolicy.objects.current()
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("order").get(pk=case_id)
        acceptance = acceptance_for(case)
        if acceptance is None:
            raise ValidationError("This case has no packet yet; the next sweep builds one.")
        if acceptance.packet.version != packet_version:
            raise ValidationError(
                f"The packet changed while you read it (now version {acceptance.packet.version}); "
                "read the changes and accept again."
            )
        shown = set(message_ids)
        acceptance.messages = [m for m in acceptance.messages if m.pk in shown]
        missing = shown - {m.pk for m in acceptance.messages}
        if missing:
            raise ValidationError(
                "A message you were shown is no longer a draft of this case; reload the page to see it as it is now."
            )
        reason = why_not(acceptance, user, policy)
        if reason:
            raise PermissionDenied(f"Cannot accept in one step: {reason}.")
        if acceptance.action == Decision.Action.WAIT and next_check_at is None:
            next_check_at = next_check_default(policy)
        decision = decisions.decide(
            case.pk,
            user,
            action=acceptance.action,
            note=(note or "").strip() or acceptance.note,
            amount=acceptance.amount,
            next_check_at=next_check_at if acceptance.action == Decision.Action.WAIT else None,
            packet_version=packet_version,
        )
        for message in acceptance.messages:
            approve_message(message.pk, user)
        AuditEvent.record(
            "case.accepted",
            actor=user,
            case=case,
            obj=decision,
            summary=(
                f"Accepted the recommendation: {decision.get_action_display()}"
                + (f" and approved {len(acceptance.messages)} message(s)" if acceptance.messages else "")
            ),
            decision_action=decision.action,
            messages=[m.pk for m in acceptance.messages],
            packet_version=packet_version,
        )
    return decision


# --------------------------------------------------------------------------- the routine view


def with_drafts(queryset):
    """The cases with their customer drafts (``customer_drafts``) and their newest packet
    (``latest_packets``) prefetched, as ``acceptance_for`` reads them."""
    drafts = Message.objects.filter(status=Message.Status.DRAFT, audience=Message.Audience.CUSTOMER).order_by(
        "created_at", "id"
    )
    newest = Packet.objects.filter(case_id=OuterRef("case_id")).order_by("-version").values("version")[:1]
    latest = Packet.objects.filter(version=Subquery(newest))  # portable: SQLite has no DISTINCT ON
    return queryset.prefetch_related(
        Prefetch("messages", queryset=drafts, to_attr="customer_drafts"),
        Prefetch("packets", queryset=latest, to_attr="latest_packets"),
    )


def routine_cases(user, policy: StorePolicy | None = None) -> list[Acceptance]:
    """The open cases whose recommendation this person can accept without owner-level risk, by
    promise breach (longest breached first) then customer silence (longest first)."""
    policy = policy or StorePolicy.objects.current()
    candidates = with_drafts(
        Case.objects.filter(status=Case.Status.OPEN, evidence_strength=ROUTINE_EVIDENCE)
        .exclude(risk_level__in=ROUTINE_UNSAFE_RISKS)
        .select_related("order__customer", "product")
        .order_by(
            F("order__promised_ship_by").asc(nulls_last=True),
            F("customer_silent_since").asc(nulls_last=True),
            "id",
        )
    )
    routine = []
    for case in candidates:
        packet = case.latest_packets[0] if case.latest_packets else None
        acceptance = acceptance_for(case, packet)
        if acceptance is not None and not why_not_routine(acceptance, user, policy):
            routine.append(acceptance)
    return routine


def order_label(case: Case) -> str:
    """How people name a case in a report: its order number (the title for a case with no order)."""
    if case.order_id and case.order.number:
        return f"order {case.order.number}"
    return f"“{case.title}”"


@dataclass
class AcceptAllResult:
    done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def accept_all(shown: dict[int, tuple[int, list[int]]], user) -> AcceptAllResult:
    """Accept every case the person confirmed: ``shown`` maps a case id to the packet version and
    the draft ids the confirmation showed. Each case is re-checked and accepted on its own; one
    refusal skips that case only. The refreshes are queued together, once."""
    if not is_staff_member(user):
        raise PermissionDenied("Only the store's owner and support staff can work on cases.")
    policy = StorePolicy.objects.current()
    result = AcceptAllResult()
    cases = {c.pk: c for c in with_drafts(Case.objects.filter(pk__in=list(shown)).select_related("order"))}
    with refreshing_together():
        for case_id, (version, message_ids) in shown.items():
            case = cases.get(case_id)
            if case is None:
                continue  # gone (erased): nothing to name it by
            label = order_label(case)
            packet = case.latest_packets[0] if case.latest_packets else None
            acceptance = acceptance_for(case, packet)
            reason = "no packet yet" if acceptance is None else why_not_routine(acceptance, user, policy)
            if reason:
                result.skipped.append((label, reason))
                continue
            try:
                accept(case_id, user, packet_version=version, message_ids=message_ids)
            except (ValidationError, PermissionDenied, IllegalTransition) as exc:
                result.skipped.append((label, _reason(exc)))
            else:
                result.done.append(label)
    return result


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc) or exc.__class__.__name__
