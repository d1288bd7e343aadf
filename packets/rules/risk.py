"""Risk level and the recommended next move, from a case's category, its customer and the policy.

Each rule that fires names a risk and says why; the highest-ranked risk wins and every reason is
kept, so the packet can show all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from . import facts as f
from .customer import CustomerRisk
from .facts import OrderFacts, PolicyFacts

FTC_DAYS = 30  # the FTC mail order rule's default shipping window, in calendar days


@dataclass
class RiskContext:
    kind: str
    category: str
    now: datetime
    customer: CustomerRisk
    order: OrderFacts | None = None
    promise_at_risk: bool = False
    promise_passed: bool = False
    evidence_strength: str = f.NONE
    waiting_units: int = 0  # stockout and silence cases: units waiting on the product or supplier
    waiting_orders: int = 0
    stock_level: str | None = None
    product_active: bool = True
    has_replacement: bool = False
    backup_needs_consent: bool = False
    has_backup: bool = False
    tracking_raw: str = ""
    # backorders: how many days out the customer-facing estimate ends, when that is past the policy's
    # long_eta_days (None otherwise): the owner decides, and the customer is offered to cancel up front
    long_eta_days_out: int | None = None
    reasons: list[str] = field(default_factory=list)  # filled by assess_risk

    @property
    def customer_due_update(self) -> bool:
        if self.order is None or self.order.customer_silent_since is None:
            return False
        hours = (self.now - self.order.customer_silent_since).total_seconds() / 3600
        return hours >= 48

    @property
    def waited_days(self) -> int:
        return (self.now - self.order.placed_at).days if self.order else 0


def long_eta_days_out(eta, today, limit: int) -> int | None:
    """Days from ``today`` to the end of the customer-facing range, when that is past ``limit``."""
    if eta is None:
        return None
    days = (eta.end - today).days
    return days if days > limit else None


def _rank(risk: str) -> int:
    return f.RISK_RANK[risk]


def assess_risk(ctx: RiskContext, policy: PolicyFacts) -> str:
    """The case's risk level; ``ctx.reasons`` gets every rule that fired, highest first."""
    fired: list[tuple[str, str]] = []
    add = fired.append
    c = ctx.category
    if ctx.kind == f.BACKORDER:
        if c in {f.DISCONTINUED, f.VARIANT_MISSING}:
            add((f.REFUND_RISK, "The item cannot be supplied as ordered."))
        elif c == f.BACKUP_CANDIDATE:
            add((f.CUSTOMER_UPDATE, "Only a backup source can supply it; the customer should hear the options."))
        elif c in {f.SUPPLIER_SILENCE, f.UNCLEAR}:
            add((f.SUPPLIER_CHASE, "Nobody has said when stock comes back."))
        elif ctx.evidence_strength != f.CONFIRMED:
            add((f.SUPPLIER_CHASE, "The supplier's word is not confirmed."))
        if ctx.long_eta_days_out is not None and c not in {f.DISCONTINUED, f.VARIANT_MISSING}:
            add(
                (
                    f.OWNER_ONLY,
                    f"The estimate ends {ctx.long_eta_days_out} days out, past the policy's {policy.long_eta_days}: "
                    "the owner decides, and the customer is offered cancellation up front.",
                )
            )
        if ctx.promise_passed:
            add((f.CUSTOMER_UPDATE, "The ship-by date promised at checkout has passed."))
        elif ctx.promise_at_risk and ctx.customer_due_update:
            add((f.CUSTOMER_UPDATE, "The promised ship-by date is near and the customer has not heard from us."))
        if ctx.waited_days >= FTC_DAYS:
            add((f.REFUND_RISK, f"Waiting {FTC_DAYS}+ days: a delay notice with a free way to cancel is due."))
    elif ctx.kind == f.STOCKOUT:
        if ctx.stock_level == "owner_only":
            add((f.OWNER_ONLY, f"{ctx.waiting_units} units wait: the policy makes this the owner's call."))
        if ctx.waiting_orders and c in {f.DISCONTINUED, f.VARIANT_MISSING, f.BACKUP_CANDIDATE}:
            add((f.OWNER_ONLY, "Waiting orders need a replacement, a supplier switch or cancellations."))
        if ctx.waiting_orders:
            add((f.SUPPLIER_CHASE, f"{ctx.waiting_orders} orders wait on this product."))
        else:
            add((f.NORMAL_WATCH, f"Stock crossed the {ctx.stock_level or 'supplier'} threshold; nothing waits yet."))
    elif ctx.kind == f.STALE_TRACKING:
        base = {
            f.LABEL_CREATED_ONLY: (f.CUSTOMER_UPDATE, "The parcel has not left: the customer expects it moving."),
            f.ACCEPTED_NO_MOVEMENT: (f.CUSTOMER_UPDATE, "The parcel stopped right after pickup."),
            f.STALE_IN_TRANSIT: (f.CUSTOMER_UPDATE, "The parcel stopped moving."),
            f.CARRIER_EXCEPTION: (f.CUSTOMER_UPDATE, "The carrier reports a problem."),
            f.DELIVERED_CONFLICT: (f.REFUND_RISK, "Delivered says the carrier; not received says the customer."),
            f.WRONG_TRACKING: (f.REFUND_RISK, "The tracking does not lead to the customer's address."),
            f.EXPIRED_TRACKING: (f.REFUND_RISK, "No tracking data for weeks: the parcel may never have shipped."),
            f.SUPPLIER_SILENCE: (f.SUPPLIER_CHASE, "The supplier shipped it and nothing has moved since."),
            f.UNCLEAR: (f.NORMAL_WATCH, "The carrier's status is unclear; nothing says it is lost."),
        }
        add(base.get(c, (f.NORMAL_WATCH, "Normal watch.")))
    else:  # a supplier silence case
        add((f.SUPPLIER_CHASE, "The supplier is silent while orders wait on them."))
        if ctx.waiting_units >= policy.owner_only_waiting_units:
            add((f.OWNER_ONLY, f"{ctx.waiting_units} units wait on a silent supplier."))

    customer = ctx.customer
    if {"refund", "cancel"} & set(customer.intents):
        add((f.REFUND_RISK, "The customer asked to cancel or for a refund."))
    if customer.escalation:
        add((customer.escalation, "The customer's words escalate this to the owner."))
    if "callback_requested" in customer.intents:
        add((f.CUSTOMER_UPDATE, "The customer asked for a phone call: support calls back first."))
    money_at_stake = ctx.order is not None and (
        ctx.order.is_vip(policy) or ctx.order.is_high_value(policy) or ctx.order.total > policy.money_boundary
    )
    if money_at_stake and any(_rank(r) >= _rank(f.REFUND_RISK) for r, _ in fired):
        add((f.OWNER_ONLY, "Money is at stake on a VIP, high-value or above-boundary order."))
    if not fired:
        add((f.NORMAL_WATCH, "Normal watch."))
    fired.sort(key=lambda pair: -_rank(pair[0]))
    ctx.reasons[:] = [reason for _, reason in dict.fromkeys(fired)]
    return fired[0][0]


CALL_BACK = "The customer asked for a phone call: support calls them back first, then records what was said."


def recommend(ctx: RiskContext) -> tuple[str, str]:
    """The next move and why, in one sentence. Money moves are recommended, never taken."""
    intents = set(ctx.customer.intents)
    c = ctx.category
    if ctx.kind == f.BACKORDER:
        unpaid = ctx.order is not None and ctx.order.payment_state in {"pending", "authorized"}
        if intents & {"chargeback", "legal_threat"}:
            action = f.CANCEL if unpaid else f.REFUND
            return action, (
                "The customer threatens a dispute and the goods have not shipped: a prompt "
                f"{'cancellation' if unpaid else 'refund'} costs less than a chargeback. The owner decides."
            )
        if "cancel" in intents:
            return f.CANCEL, "The customer asked to cancel; the goods have not shipped."
        if "callback_requested" in intents and not ctx.customer.escalation:
            return f.MESSAGE_CUSTOMER, CALL_BACK
        if "refund" in intents:
            return (f.CANCEL if unpaid else f.REFUND), "The customer asked for their money back."
        if intents & {"bad_review"} or ctx.customer.escalation:
            return f.MESSAGE_CUSTOMER, "The customer is upset: a personal reply, approved by the owner, comes first."
        if c in {f.DISCONTINUED, f.VARIANT_MISSING}:
            if ctx.has_replacement:
                return f.OFFER_REPLACEMENT, "The item cannot be supplied as ordered; a similar item is in stock."
            return f.CANCEL, "The item cannot be supplied as ordered and nothing similar is in stock."
        if c == f.BACKUP_CANDIDATE and ctx.backup_needs_consent:
            return (
                f.OFFER_REPLACEMENT,
                "Only the backup source can supply it, and its version needs the customer's consent.",
            )
        if ctx.long_eta_days_out is not None:
            return f.MESSAGE_CUSTOMER, (
                f"The estimate ends {ctx.long_eta_days_out} days out: tell the customer and offer cancellation "
                "up front; the owner approves."
            )
        if ctx.waited_days >= FTC_DAYS:
            return f.MESSAGE_CUSTOMER, "A delay notice with a revised range and a free way to cancel is due."
        if ctx.promise_passed or ctx.customer_due_update or c in {f.SUPPLIER_SILENCE, f.UNCLEAR}:
            return f.MESSAGE_CUSTOMER, "The customer is owed an honest update on the delay."
        return f.WAIT, "The customer has a current update; supply is handled on the product's case."
    if ctx.kind == f.STOCKOUT:
        if ctx.waiting_orders and ctx.product_active:
            return f.PAUSE_PRODUCT, (
                f"{ctx.waiting_orders} orders already wait: pause sales and change the product page's wording "
                "so no new customer is promised what stock cannot cover."
            )
        if c == f.BACKUP_CANDIDATE and ctx.has_backup:
            return f.SWITCH_SUPPLIER, "The primary supplier cannot deliver and a backup source exists."
        if c in {f.DISCONTINUED, f.VARIANT_MISSING} and ctx.product_active:
            return f.PAUSE_PRODUCT, "The supplier no longer makes it: stop selling it."
        if c == f.DISCONTINUED:  # it will not come back: waiting is never the answer
            if ctx.has_replacement:
                return (
                    f.OFFER_REPLACEMENT,
                    "It will not come back: offer the waiting customers a similar item, or cancel.",
                )
            return f.CANCEL, "It will not come back and nothing similar is in stock: cancel what waits on it."
        if c == f.LOW_STOCK:
            return f.CHASE_SUPPLIER, "Ask for a restock date before the last units go."
        if ctx.evidence_strength in {f.WEAK, f.CONFLICTING, f.NONE}:
            return f.CHASE_SUPPLIER, "The supplier's word is not confirmed: ask for a written date."
        return f.WAIT, "Supply is confirmed; check again when the restock range starts."
    if ctx.kind == f.STALE_TRACKING:
        if intents & {"chargeback", "legal_threat"} and c != f.DELIVERED_CONFLICT:
            return f.ESCALATE, "The customer threatens a dispute over a parcel that is not moving: the owner decides."
        if "callback_requested" in intents and not ctx.customer.escalation:
            return f.MESSAGE_CUSTOMER, CALL_BACK
        moves = {
            f.LABEL_CREATED_ONLY: (f.REQUEST_PROOF, "Ask the warehouse and carrier for proof of pickup."),
            f.SUPPLIER_SILENCE: (f.CHASE_SUPPLIER, "Ask the supplier for proof they handed the parcel over."),
            f.ACCEPTED_NO_MOVEMENT: (f.REQUEST_PROOF, "Open a trace with the carrier."),
            f.STALE_IN_TRANSIT: (f.REQUEST_PROOF, "Open a trace with the carrier."),
            f.CARRIER_EXCEPTION: (f.MESSAGE_CUSTOMER, "Tell the customer and confirm what the carrier needs."),
            f.DELIVERED_CONFLICT: (
                f.REQUEST_PROOF,
                "Ask the carrier for proof of delivery before deciding between a refund and a re-ship.",
            ),
            f.WRONG_TRACKING: (f.REQUEST_PROOF, "Ask whoever shipped it for the right tracking number."),
            f.EXPIRED_TRACKING: (
                f.ESCALATE,
                "No tracking data for weeks: the owner decides between re-shipping and refunding.",
            ),
            f.UNCLEAR: (f.REQUEST_PROOF, "Ask the carrier what its status means."),
        }
        action, reason = moves.get(c, (f.WAIT, "Normal watch."))
        if action == f.REQUEST_PROOF and "where_is_my_order" in intents and c != f.DELIVERED_CONFLICT:
            return f.MESSAGE_CUSTOMER, "The customer asked where the order is: answer, then open a trace."
        return action, reason
    return f.CHASE_SUPPLIER, "Ask the supplier for a written status on every product orders wait for."
