"""Acting on the store after approval: cancel, refund, hold, release and tag; stop and resume
selling a product, and its backorder wording; review-first.

Nothing runs on a store until a decision is approved. The verbs here are the entry points:

* ``on_decision_approved(decision)``: called inside the approving transaction; writes one
  ``StoreAction`` row per store call the decision needs and enqueues them after commit. A refund
  that belongs to a cancel records the cancel as the action it waits on (``after``): the worker
  runs it only after the cancel succeeded, and a failed cancel leaves it waiting, never sent. Cancel and
  refund need an owner's approval; hold and tag may run on a staff approval or a standing one.
* ``preview(decision_or_action, case)``: the plain-language lines shown before approval.
* ``release_holds(order_id)``: our own fulfilment holds on an order whose units are now allocated;
  ``release_holds_for(order_ids)`` finds, in one query, which of many orders have one (allocation
  calls it through ``settings.AFTER_ALLOCATION``).
* ``retry_action(action_id, user, without_gateway=False)``: the owner runs a failed action again.

Approving "pause product" plans *stop selling* for the case's product (``storefront``); the
product page and the supply coming back propose the others (``selling``).
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from backorders.models import StorePolicy
from backorders.roles import is_owner, is_staff_member

from ..models import AuditEvent, Decision, StoreAction
from .preview import STANDING_KEYS, Planned, describe, plan_for, preview, short_lines
from .runner import enqueue

__all__ = ["create_action", "on_decision_approved", "preview", "release_holds", "release_holds_for", "retry_action"]

Kind = StoreAction.Kind
Status = StoreAction.Status
OPEN = [Status.PENDING, Status.RUNNING, Status.NEEDS_CHECK]


def new_key(decision_id: int | None, kind: str) -> str:
    return f"bd-{decision_id or 0}-{kind.replace('_', '-')}-{uuid.uuid4().hex[:16]}"


def on_decision_approved(decision: Decision) -> list[StoreAction]:
    """Create the store-action rows for an approved decision and enqueue them after commit.

    Call it inside the approving transaction. Called twice for one decision (two approve clicks),
    it returns the rows the first call made: one action per (decision, kind), by a unique
    constraint. Raises ``PermissionDenied`` when a cancel or refund was approved by anyone but an
    owner, which rolls the approval back with it.
    """
    if decision.status != Decision.Status.APPROVED:
        raise ValidationError("Only an approved decision acts on the store.")
    case = decision.case
    policy = StorePolicy.objects.current()
    approver = decision.approved_by
    actions = []
    made: dict[str, StoreAction] = {}
    with transaction.atomic():
        for planned in plan_for(decision, case, policy=policy):
            if planned.kind in StoreAction.OWNER_ONLY_KINDS:
                if not is_owner(approver):
                    raise PermissionDenied(
                        f"Only an owner can approve this: {describe(planned.kind, planned.platform, planned.plan)}"
                    )
            elif not (is_staff_member(approver) or STANDING_KEYS[planned.kind] in policy.standing_approvals):
                AuditEvent.record(
                    "store_action.not_covered",
                    case=case,
                    obj=decision,
                    summary=f"Not sent: {describe(planned.kind, planned.platform, planned.plan)} "
                    f"(no staff approval and no standing approval for it)"[:500],
                )
                continue
            after = made.get(planned.after) if planned.after else None
            if planned.after and after is None:
                AuditEvent.record(
                    "store_action.not_covered",
                    case=case,
                    obj=decision,
                    summary=f"Not sent: {describe(planned.kind, planned.platform, planned.plan)} "
                    f"(the action it waits on is not planned)"[:500],
                )
                continue
            made[planned.kind] = create_action(decision, case, planned, approver, after=after)
            actions.append(made[planned.kind])
    return actions


def create_action(
    decision: Decision | None, case, planned: Planned, approver, *, after: StoreAction | None = None
) -> StoreAction:
    """Write one approved action (audited) and enqueue it after commit; the existing row when the
    same action (or the same change of the same product) is already there."""
    try:
        with transaction.atomic():
            action = StoreAction.objects.create(
                case=case,
                decision=decision,
                order=case.order if case is not None and planned.kind not in StoreAction.PRODUCT_KINDS else None,
                platform=planned.platform,
                kind=planned.kind,
                amount=planned.amount,
                plan=planned.plan,
                idempotency_key=new_key(decision.pk if decision else None, planned.kind),
                approved_by=approver if getattr(approver, "is_authenticated", False) else None,
                after=after,
                product_id=planned.product_id,
                target=planned.target,
            )
    except IntegrityError:
        # the same decision approved again (or at the same moment): its action already exists;
        # or the same change of the same product is already on its way
        existing = StoreAction.objects.filter(decision=decision, kind=planned.kind).first() if decision else None
        return existing or StoreAction.objects.get(
            platform=planned.platform, target=planned.target, kind=planned.kind, status__in=OPEN
        )
    AuditEvent.record(
        "store_action.planned",
        actor=approver,
        case=case,
        obj=action,
        summary=describe(action.kind, action.platform, action.plan)[:500],
        plan=action.plan,
        after=action.after_id,
    )
    if after is None:
        # a waiting action is enqueued by the one it waits on, once that one succeeded
        transaction.on_commit(lambda: enqueue(action.pk))
    return action


def _unreleased_holds():
    return StoreAction.objects.filter(kind=Kind.HOLD, status=Status.SUCCEEDED).exclude(
        decision__store_actions__kind=Kind.RELEASE_HOLD
    )


def release_holds_for(order_ids) -> list[StoreAction]:
    """``release_holds`` for those of ``order_ids`` that hold a placed hold of ours: one query to
    find them, whatever the number of orders (allocation may serve thousands at once)."""
    held = _unreleased_holds().filter(order_id__in=list(order_ids)).values_list("order_id", flat=True).distinct()
    return [action for order_id in sorted(held) for action in release_holds(order_id)]


def release_holds(order_id: int) -> list[StoreAction]:
    """Release our own fulfilment holds on an order once none of its held lines misses units.

    Allocation calls it (through ``release_holds_for``) when it gave the order units. Each hold made
    by a decision gets one release action, approved by whoever approved the hold; the call to the
    store runs after the transaction commits.
    """
    created = []
    with transaction.atomic():
        holds = _unreleased_holds().select_related("case", "order", "decision", "approved_by").filter(order_id=order_id)
        for hold in holds:
            if short_lines(hold.order, hold.case):
                continue
            plan = {key: hold.plan[key] for key in ("order_gid", "order_number", "currency", "handle")}
            planned = Planned(Kind.RELEASE_HOLD, hold.platform, plan)
            created.append(create_action(hold.decision, hold.case, planned, hold.approved_by))
    return created


def retry_action(action_id: int, user, *, without_gateway: bool = False) -> StoreAction:
    """The owner runs a failed action again, with a fresh idempotency key (the earlier attempt's
    outcome is final). The store is read back for the earlier keys first. ``without_gateway``
    records a WooCommerce refund without calling the payment gateway (``api_refund: false``),
    after the money was returned by hand."""
    if not is_owner(user):
        raise PermissionDenied("Only an owner can run a store action again.")
    with transaction.atomic():
        action = StoreAction.objects.select_for_update(of=("self",)).select_related("case").get(pk=action_id)
        if action.status != Status.FAILED:
            raise ValidationError(f"Only a failed action can be run again; this one is {action.get_status_display()}.")
        fields = {
            "previous_keys": [*action.previous_keys, action.idempotency_key],
            "idempotency_key": new_key(action.decision_id, action.kind),
            "attempts": 0,
            "next_attempt_at": None,
            "error": "",
        }
        reason = f"Run again by hand after: {action.error}"
        if without_gateway:
            if action.platform != StoreAction.Platform.WOOCOMMERCE or action.kind != Kind.REFUND:
                raise ValidationError("Only a WooCommerce refund can be recorded without the payment gateway.")
            fields["plan"] = {**action.plan, "api_refund": False}
            reason = "Recording the refund in WooCommerce without the payment gateway (the money is returned by hand)"
        action.set_status(Status.PENDING, actor=user, reason=reason[:500], **fields)
        transaction.on_commit(lambda: enqueue(action.pk))
    return action
