"""What people do with a case: decide, propose, approve or reject, record outcomes, assign.

Every verb owns its transaction, locks the case row it changes, checks the person's role on the
server and writes an AuditEvent in the same transaction. What a person does to a case refreshes
that case's packet once the transaction commits (``refresh.refresh_after_commit``).
``approve_decision`` is the single place a decision becomes approved: whatever later acts on the
store hangs off it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backorders.models import Product, StorePolicy
from backorders.roles import OWNER, SUPPORT, is_owner, is_staff_member
from packets.integrations import zendesk
from packets.integrations.outbound import case_changes, case_payload, case_updated, decision_payload, emit_many
from packets.notify import compose
from packets.notify.messaging import approve_message
from packets.sweep.refresh import refresh_after_commit, refreshing_together

from .models import AuditEvent, Case, Decision, IllegalTransition, Message, Outcome, Packet
from .store_actions import on_decision_approved

# Where an approved decision leaves the case.
STATUS_AFTER = {
    Decision.Action.WAIT: Case.Status.WAITING,
    Decision.Action.ESCALATE: Case.Status.AWAITING_OWNER,
}

# Cases a bulk "accept the recommendation" may touch: consistent evidence, no owner-level risk.
BULK_SAFE_EVIDENCE = "confirmed"
BULK_UNSAFE_RISKS = frozenset({Case.Risk.OWNER_ONLY, Case.Risk.CHARGEBACK_WATCH})
# The cadence step whose drafts are routine enough to approve many at once.
ROUTINE_DRAFT_STEP = "update_48h"


def needs_owner(action: str, amount: Decimal | None, policy: StorePolicy) -> bool:
    """True when the store's policy reserves this decision for the owner."""
    if action in Decision.OWNER_ONLY_ACTIONS:
        return True
    return amount is not None and amount > policy.money_boundary


def staff_users():
    """People who may be assigned a case: the owner(s) and support staff."""
    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name__in=[OWNER, SUPPORT]), is_active=True)
        .distinct()
        .order_by("first_name", "username")
    )


def _require_staff(user) -> None:
    if not is_staff_member(user):
        raise PermissionDenied("Only the store's owner and support staff can work on cases.")


def _lock_open_case(case_id: int) -> Case:
    # FOR NO KEY UPDATE: allocation may be inserting a row that refers to this case (a hold's
    # release) while it holds the product this decision is about; its key share must not wait
    case = Case.objects.select_for_update(of=("self",), no_key=True).get(pk=case_id)
    if not case.is_open:
        raise ValidationError("This case is resolved; reopen it before deciding.")
    return case


def _latest_packet(case: Case) -> Packet:
    packet = case.packets.order_by("-version").first()
    if packet is None:
        raise ValidationError("This case has no packet yet; the next sweep builds one.")
    return packet


def decide(
    case_id: int,
    user,
    *,
    action: str,
    note: str,
    amount: Decimal | None = None,
    next_check_at: datetime | None = None,
    packet_version: int | None = None,
    replaces: int | None = None,
) -> Decision:
    """Record a decision on the case's latest packet.

    A decision within the person's authority is approved at once (through ``approve_decision``);
    one the policy reserves for the owner, made by support, stays *proposed* and the case waits
    for the owner. ``packet_version`` is the version the person read: when a newer one exists,
    the decision is refused so nobody decides on facts that have changed.

    A second decision on the packet version that already has a standing one (proposed or
    approved) is refused, naming the earlier one (who, what, when), unless ``replaces`` names
    it: the person saw it and decides again on purpose. A replaced proposal is turned down.
    """
    _require_staff(user)
    if action not in Decision.Action.values:
        raise ValidationError(f"Unknown action {action!r}.")
    if not note.strip():
        raise ValidationError("Say why in a note: the audit trail keeps it.")
    if action == Decision.Action.WAIT:
        if next_check_at is None:
            raise ValidationError("Waiting needs the date of the next check.")
        if next_check_at <= timezone.now():
            raise ValidationError("The next check must be in the future.")
    with transaction.atomic():
        case = _lock_open_case(case_id)
        packet = _latest_packet(case)
        if packet_version is not None and packet_version != packet.version:
            raise ValidationError(
                f"The packet changed while you read it (now version {packet.version}); "
                "read the changes and decide again."
            )
        _refuse_a_second_decision(case, packet, user, replaces)
        if action == Decision.Action.PAUSE_PRODUCT and case.product_id is None:
            raise ValidationError("This case is not about one product, so there is nothing to pause.")
        policy = StorePolicy.objects.current()
        decision = Decision.objects.create(
            case=case,
            packet=packet,
            action=action,
            status=Decision.Status.PROPOSED,
            note=note.strip(),
            amount=amount,
            next_check_at=next_check_at,
            decided_by=user,
        )
        owner_needed = needs_owner(action, amount, policy)
        AuditEvent.record(
            "decision.proposed" if owner_needed and not is_owner(user) else "decision.made",
            actor=user,
            case=case,
            obj=decision,
            summary=f"{decision.get_action_display()} on packet v{packet.version}: {decision.note}",
            decision_action=action,
            amount=amount,
            packet_version=packet.version,
        )
        if owner_needed and not is_owner(user):
            status_was = case.status
            case.set_status(Case.Status.AWAITING_OWNER, actor=user, reason=f"{user} proposed: {action}")
            case_updated(case, "decision", status_was=status_was)
            refresh_after_commit(case.pk)
        else:
            approve_decision(decision.pk, user)
            decision.refresh_from_db()
    return decision


class AlreadyDecided(ValidationError):
    """A decision stands on this packet version already; ``earlier`` is it."""

    def __init__(self, earlier: Decision, packet: Packet):
        self.earlier = earlier
        super().__init__(
            f"Already decided on packet v{packet.version}: {describe_decision(earlier)}. Nothing has changed "
            "since; to decide again anyway, confirm that the new decision replaces it.",
            code="already_decided",
        )


def earlier_decision(case: Case, packet: Packet) -> Decision | None:
    """The standing (proposed or approved) decision already made on this packet version, if any."""
    return (
        case.decisions.filter(packet=packet, status__in=[Decision.Status.PROPOSED, Decision.Status.APPROVED])
        .select_related("decided_by")
        .order_by("-decided_at", "-id")
        .first()
    )


def describe_decision(decision: Decision) -> str:
    who = decision.decided_by.get_full_name() or decision.decided_by.get_username()
    when = timezone.localtime(decision.decided_at, UTC).strftime("%b %-d, %H:%M UTC")
    state = "waiting for the owner" if decision.status == Decision.Status.PROPOSED else "approved"
    return f"{who} chose “{decision.get_action_display()}” on {when} ({state})"


def _refuse_a_second_decision(case: Case, packet: Packet, user, replaces: int | None) -> None:
    earlier = earlier_decision(case, packet)
    if earlier is None:
        return
    if replaces != earlier.pk:
        raise AlreadyDecided(earlier, packet)
    if earlier.status == Decision.Status.PROPOSED:
        if not is_owner(user) and earlier.decided_by_id != user.pk:
            raise PermissionDenied("Only the owner, or whoever proposed it, can replace a proposal.")
        Decision.objects.filter(pk=earlier.pk).update(status=Decision.Status.REJECTED)
        AuditEvent.record(
            "decision.rejected",
            actor=user,
            case=case,
            obj=earlier,
            summary=f"Replaced by a new decision: {earlier.get_action_display()}",
            decision_action=earlier.action,
        )


def approve_decision(decision_id: int, owner) -> Decision:
    """The one place a decision is approved and its effects on the case happen.

    Owner-level decisions (owner-only actions, amounts over the money boundary) need an owner;
    routine ones may be approved by any staff member (``decide`` does so for its own decisions).
    """
    _require_staff(owner)
    with transaction.atomic():
        decision = Decision.objects.select_for_update().get(pk=decision_id)
        case = _lock_open_case(decision.case_id)
        if decision.status != Decision.Status.PROPOSED:
            raise ValidationError(f"This decision is already {decision.get_status_display().lower()}.")
        policy = StorePolicy.objects.current()
        if needs_owner(decision.action, decision.amount, policy) and not is_owner(owner):
            raise PermissionDenied("Only the owner can approve this decision.")
        now = timezone.now()
        decision.status = Decision.Status.APPROVED
        decision.approved_by = owner
        decision.approved_at = now
        decision.save(update_fields=["status", "approved_by", "approved_at"])
        AuditEvent.record(
            "decision.approved",
            actor=owner,
            case=case,
            obj=decision,
            summary=f"Approved: {decision.get_action_display()}",
            decision_action=decision.action,
            decided_by=decision.decided_by_id,
        )
        status_was = case.status
        _apply(decision, case, owner)
        # Acting on the store (cancel, refund, hold, tag) and telling subscribed automations: rows
        # written in this transaction, calls made by the worker after it commits.
        on_decision_approved(decision)
        if decision.action == Decision.Action.ESCALATE:
            zendesk.on_escalated(decision, case, owner)  # one ticket per case, opened after commit
        emit_many(
            [
                ("decision.approved", decision_payload(decision), case),
                ("case.updated", case_payload(case, case_changes(case, status_was, "decision")), case),
            ]
        )
        refresh_after_commit(case.pk)
    return decision


def _apply(decision: Decision, case: Case, actor) -> None:
    """What an approved decision changes in the back-office (the store itself is not touched)."""
    action = decision.action
    new_status = STATUS_AFTER.get(action, Case.Status.ACTIONED)
    try:
        case.set_status(new_status, actor=actor, reason=f"Decision: {decision.get_action_display()}")
    except IllegalTransition as exc:
        raise ValidationError(str(exc)) from exc
    if action == Decision.Action.WAIT:
        case.next_check_at = decision.next_check_at
        case.save(update_fields=["next_check_at", "updated_at"])
    if action in (Decision.Action.MESSAGE_CUSTOMER, Decision.Action.OFFER_REPLACEMENT):
        compose.draft_for_decision(decision, case, actor)  # a draft, approved like any other
    if action == Decision.Action.PAUSE_PRODUCT:
        product = Product.objects.select_for_update(no_key=True).get(pk=case.product_id)
        if product.status != Product.Status.PAUSED:
            old = product.status
            product.status = Product.Status.PAUSED
            product.save(update_fields=["status", "updated_at"])
            AuditEvent.record(
                "product.paused", actor=actor, case=case, obj=product, summary=f"{product.sku} paused", old=old
            )


def reject_decision(decision_id: int, owner, note: str = "") -> Decision:
    """The owner turns a proposal down; the case goes back to the open queue."""
    if not is_owner(owner):
        raise PermissionDenied("Only the owner can reject a proposal.")
    with transaction.atomic():
        decision = Decision.objects.select_for_update().get(pk=decision_id)
        case = _lock_open_case(decision.case_id)
        if decision.status != Decision.Status.PROPOSED:
            raise ValidationError(f"This decision is already {decision.get_status_display().lower()}.")
        decision.status = Decision.Status.REJECTED
        decision.save(update_fields=["status"])
        AuditEvent.record(
            "decision.rejected",
            actor=owner,
            case=case,
            obj=decision,
            summary=f"Rejected: {decision.get_action_display()}. {note}".strip(),
            decision_action=decision.action,
        )
        still_proposed = case.decisions.filter(status=Decision.Status.PROPOSED).exists()
        status_was = case.status
        if case.status == Case.Status.AWAITING_OWNER and not still_proposed:
            case.set_status(Case.Status.OPEN, actor=owner, reason="Proposal rejected")
        case_updated(case, "decision", status_was=status_was)
        refresh_after_commit(case.pk)
    return decision


def record_outcome(case_id: int, user, *, kind: str, note: str = "", decision_id: int | None = None) -> Outcome:
    """Support (or the owner) records what was done."""
    _require_staff(user)
    if kind not in Outcome.Kind.values:
        raise ValidationError(f"Unknown outcome {kind!r}.")
    with transaction.atomic():
        case = _lock_open_case(case_id)
        decision = None
        if decision_id is not None:
            decision = case.decisions.filter(pk=decision_id).first()
            if decision is None:
                raise ValidationError("That decision belongs to another case.")
        outcome = Outcome.objects.create(case=case, decision=decision, kind=kind, note=note.strip(), recorded_by=user)
        AuditEvent.record(
            "outcome.recorded",
            actor=user,
            case=case,
            obj=outcome,
            summary=f"{outcome.get_kind_display()}. {outcome.note}".strip(),
            kind=kind,
        )
        refresh_after_commit(case.pk)
    return outcome


def assign(case_id: int, user, assignee_id: int | None) -> Case:
    """Give the case to a staff member (or to nobody)."""
    _require_staff(user)
    with transaction.atomic():
        case = _lock_open_case(case_id)
        assignee = None
        if assignee_id is not None:
            assignee = staff_users().filter(pk=assignee_id).first()
            if assignee is None:
                raise ValidationError("Cases can only go to the owner or support staff.")
        if case.assignee_id == assignee_id:
            return case
        old = case.assignee_id
        case.assignee = assignee
        case.save(update_fields=["assignee", "updated_at"])
        AuditEvent.record(
            "case.assigned",
            actor=user,
            case=case,
            obj=case,
            summary=f"Assigned to {assignee.get_username()}" if assignee else "Unassigned",
            old=old,
            new=assignee_id,
        )
    return case


# --------------------------------------------------------------------------- bulk


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _why_not_routine(case: Case | None, user=None) -> str:
    if case is None:
        return "not found"
    if not case.is_open or case.status != Case.Status.OPEN:
        return f"status is {case.get_status_display().lower()}"
    packet = case.latest_packet
    if packet is None:
        return "no packet yet"
    if packet.evidence_strength != BULK_SAFE_EVIDENCE:
        return f"evidence is {packet.evidence_strength}"
    if packet.risk_level in BULK_UNSAFE_RISKS:
        return f"risk is {case.get_risk_level_display().lower()}"
    if packet.recommendation in Decision.OWNER_ONLY_ACTIONS and not is_owner(user):
        return "the recommendation is the owner's call"  # the owner's own authority is never skipped
    return ""


def bulk_accept_recommendation(
    case_ids: list[int], user, *, note: str, next_check_at: datetime | None = None
) -> BulkResult:
    """Accept each routine case's recommendation; each case is re-checked on its own."""
    _require_staff(user)
    with refreshing_together():
        return _bulk_accept(case_ids, user, note=note, next_check_at=next_check_at)


def _bulk_accept(case_ids: list[int], user, *, note: str, next_check_at: datetime | None) -> BulkResult:
    result = BulkResult()
    cases = {c.pk: c for c in Case.objects.filter(pk__in=case_ids)}
    for case_id in case_ids:
        reason = _why_not_routine(cases.get(case_id), user)
        if reason:
            result.skipped.append((case_id, reason))
            continue
        packet = cases[case_id].latest_packet
        try:
            decide(
                case_id,
                user,
                action=packet.recommendation,
                note=note,
                next_check_at=next_check_at if packet.recommendation == Decision.Action.WAIT else None,
                packet_version=packet.version,
            )
        except (ValidationError, PermissionDenied) as exc:
            result.skipped.append((case_id, _reason(exc)))
        else:
            result.done.append(case_id)
    return result


def bulk_assign(case_ids: list[int], user, assignee_id: int | None) -> BulkResult:
    _require_staff(user)
    result = BulkResult()
    for case_id in case_ids:
        try:
            assign(case_id, user, assignee_id)
        except Case.DoesNotExist:
            result.skipped.append((case_id, "not found"))
        except (ValidationError, PermissionDenied) as exc:
            result.skipped.append((case_id, _reason(exc)))
        else:
            result.done.append(case_id)
    return result


def routine_drafts():
    """Drafts safe to approve many at once: the 48-hour update, clean, on consistent evidence."""
    return Message.objects.filter(
        status=Message.Status.DRAFT,
        step=ROUTINE_DRAFT_STEP,
        needs_owner=False,
        guideline_issues=[],
        case__evidence_strength=BULK_SAFE_EVIDENCE,
    ).exclude(case__risk_level__in=Message.OWNER_RISKS)


def bulk_approve_messages(message_ids: list[int], user) -> BulkResult:
    """Approve each draft on its own; a draft that needs the owner or breaks a guideline is skipped.
    The cases of the approved drafts are refreshed together at the end, by one task."""
    _require_staff(user)
    with refreshing_together():
        return _bulk_approve(message_ids, user)


def _bulk_approve(message_ids: list[int], user) -> BulkResult:
    result = BulkResult()
    for message_id in message_ids:
        try:
            approve_message(message_id, user)
        except Message.DoesNotExist:
            result.skipped.append((message_id, "not found"))
        except IllegalTransition:
            result.skipped.append((message_id, "no longer a draft"))
        except (ValidationError, PermissionDenied) as exc:
            result.skipped.append((message_id, _reason(exc)))
        else:
            result.done.append(message_id)
    return result


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc) or exc.__class__.__name__
