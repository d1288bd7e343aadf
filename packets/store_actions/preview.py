"""What an approved decision asks of the store, planned before it runs and said in plain words.

``plan_for(decision, case)`` is a pure reading of the case's facts and the store's policy: the
same plan is shown before approval (``preview``) and stored on the action rows at approval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Max

from backorders.formats.money import format_money
from backorders.models import Channel, Order, OrderLine, StorePolicy

from ..models import Case, Decision, Message, StoreAction
from .shopify import line_item_gid, order_gid
from .storefront import SELLING_KINDS, platform_of, selling_plan, target_of, wording_plan
from .storefront import describe as describe_product

Kind = StoreAction.Kind
Platform = StoreAction.Platform

PLATFORM_OF = {
    Channel.SHOPIFY: Platform.SHOPIFY,
    Channel.WOOCOMMERCE: Platform.WOOCOMMERCE,
    Channel.BIGCOMMERCE: Platform.BIGCOMMERCE,
}
WAITING_ACTIONS = {Decision.Action.WAIT, Decision.Action.SWITCH_SUPPLIER, Decision.Action.CHASE_SUPPLIER}
# Standing-approval keys (in StorePolicy.standing_approvals) that let hold and tag run on a
# decision approved by someone other than staff. Cancel and refund never have one.
STANDING_KEYS = {
    Kind.HOLD: "store_hold",
    Kind.RELEASE_HOLD: "store_hold",
    Kind.TAG: "store_tag",
    Kind.STOP_SELLING: "store_selling",
    Kind.RESUME_SELLING: "store_selling",
    Kind.SET_WORDING: "store_wording",
    Kind.CLEAR_WORDING: "store_wording",
}
BACKORDER_TAG = "backorder"
IN_FLIGHT = [Message.Status.APPROVED, Message.Status.QUEUED, Message.Status.SENDING, Message.Status.SENT]


@dataclass
class Planned:
    kind: str
    platform: str
    plan: dict
    amount: Decimal | None = None
    lines: list[str] = field(default_factory=list)
    after: str | None = None  # the kind of the action (of the same decision) this one waits on
    product_id: int | None = None  # a product action: the product it is about
    target: str = ""  # a product action: the product's id on the store


def short_lines(order: Order, case: Case, lines: list[OrderLine] | None = None) -> list[tuple[OrderLine, int]]:
    """The order's lines still missing units (for this case's product, when it names one)."""
    lines = list(order.lines.all()) if lines is None else lines
    result = []
    for line in lines:
        if case.product_id and line.product_id != case.product_id:
            continue
        if line.state in {OrderLine.State.CANCELLED, OrderLine.State.SHIPPED}:
            continue
        missing = line.quantity - line.allocated
        if missing > 0:
            result.append((line, missing))
    return result


def latest_outgoing_customer_message_at(case: Case):
    """When our newest customer message on its way (or sent) was made; None if there is none."""
    return case.messages.filter(audience=Message.Audience.CUSTOMER, status__in=IN_FLIGHT).aggregate(
        latest=Max("created_at")
    )["latest"]


def our_message_goes_out(case: Case, decision: Decision) -> bool:
    """A customer message of ours approved with or after the decision: the platform stays quiet.

    A page that previews many decisions reads the newest message once and leaves it on the case
    as ``outgoing_customer_message_at``.
    """
    if hasattr(case, "outgoing_customer_message_at"):
        latest = case.outgoing_customer_message_at
    else:
        latest = latest_outgoing_customer_message_at(case)
    return latest is not None and latest >= decision.decided_at


def plan_for(decision: Decision, case: Case | None = None, *, policy: StorePolicy | None = None) -> list[Planned]:
    """The store actions an approval of ``decision`` would run, in the order they run."""
    case = case or decision.case
    if decision.action == Decision.Action.PAUSE_PRODUCT:
        if not case.product_id:
            return []
        drafts = (policy or StorePolicy.objects.current()).stop_selling_drafts_product
        return product_plans(case.product, Kind.STOP_SELLING, product_status="DRAFT" if drafts else "")
    order = case.order
    if order is None or order.channel not in PLATFORM_OF:
        return []
    platform = PLATFORM_OF[order.channel]
    policy = policy or StorePolicy.objects.current()
    action = decision.action
    if action == Decision.Action.CANCEL:
        return _cancel(decision, case, order, platform, policy)
    if action == Decision.Action.REFUND:
        planned = _refund(decision, case, order, platform, short_lines(order, case))
        return [planned] if planned else []
    if action in WAITING_ACTIONS and platform == Platform.SHOPIFY:
        return _wait(case, order, policy)
    return []


def product_plans(product, kind: str, *, before: str = "", text: str = "", product_status: str = "") -> list[Planned]:
    """A product action on the store the product is sold on; none when the desk lacks its ids there."""
    platform = platform_of(product)
    if platform is None:
        return []
    if kind in SELLING_KINDS:
        plan = selling_plan(product, kind, platform, before=before, product_status=product_status)
    else:
        plan = wording_plan(product, kind, platform, text)
    if plan is None:
        return []
    return [Planned(kind, platform, plan, product_id=product.pk, target=target_of(product, platform))]


def _base(order: Order, platform: str) -> dict:
    base = {"order_number": order.number, "currency": order.currency}
    if platform == Platform.SHOPIFY:
        base["order_gid"] = order_gid(order.external_id)
    else:
        base["order_id"] = order.external_id
    return base


def _cancel(decision, case, order, platform, policy) -> list[Planned]:
    notify = not our_message_goes_out(case, decision)
    paid = order.payment_state in {Order.PaymentState.PAID, Order.PaymentState.PARTIALLY_REFUNDED}
    if platform == Platform.SHOPIFY:
        store_credit = policy.refund_method == StorePolicy.RefundMethod.STORE_CREDIT
        plan = {
            **_base(order, platform),
            "reason": "INVENTORY",
            "refund_method": {"storeCreditRefund": {}} if store_credit else {"originalPaymentMethodsRefund": True},
            "refund_to": "store credit" if store_credit else "the original payment",
            "payment_state": order.payment_state,
            "refund_amount": str(order.total) if paid else None,
            "restock": False,
            "notify_customer": notify,
            "staff_note": f"Backorder Desk case {case.pk}" + (f": {decision.note}" if decision.note else ""),
        }
        return [Planned(Kind.CANCEL, platform, plan, order.total if paid else None)]
    planned = [Planned(Kind.CANCEL, platform, {**_base(order, platform), "status": "cancelled"})]
    if paid and order.total > 0:
        lines = [(line, line.quantity - line.shipped) for line in order.lines.all() if line.quantity > line.shipped]
        refund = _refund(decision, case, order, platform, lines, amount=decision.amount or order.total)
        if refund:
            refund.after = Kind.CANCEL  # the money goes back only once the order is cancelled
            refund.plan["after_cancel"] = True
            planned.append(refund)
    return planned


def _refund(decision, case, order, platform, lines, *, amount=None) -> Planned | None:
    lines = [(line, units) for line, units in lines if units > 0]
    if amount is None:
        amount = decision.amount if decision.amount is not None else sum(line.unit_price * n for line, n in lines)
    amount = Decimal(amount).quantize(Decimal("0.01"))
    if amount <= 0 and not lines:
        return None
    described = [f"{n} × {line.title or line.sku}" for line, n in lines]
    plan = {
        **_base(order, platform),
        "amount": str(amount),
        "items": described,
        "note": f"Backorder Desk case {case.pk}: {case.title}"[:200],
    }
    if platform == Platform.SHOPIFY:
        plan["lines"] = [
            {"line_item_id": line_item_gid(line.external_id), "quantity": n} for line, n in lines if line.external_id
        ]
        plan["notify_customer"] = not our_message_goes_out(case, decision)
    else:
        plan["reason"] = plan.pop("note")
        plan["api_refund"] = True
        plan["line_items"] = [
            {"id": int(line.external_id), "quantity": n, "refund_total": str(line.unit_price * n)}
            for line, n in lines
            if line.external_id.isdigit()
        ]
    return Planned(Kind.REFUND, platform, plan, amount)


def hold_handle(case: Case) -> str:
    return f"backorder-desk-case-{case.pk}"


def _wait(case, order, policy) -> list[Planned]:
    planned = [Planned(Kind.TAG, Platform.SHOPIFY, {**_base(order, Platform.SHOPIFY), "tags": [BACKORDER_TAG]})]
    holds_partials = (order.partial_shipment or policy.partial_shipment_default) == Order.PartialShipment.HOLD
    if holds_partials and short_lines(order, case):
        plan = {
            **_base(order, Platform.SHOPIFY),
            "handle": hold_handle(case),
            "reason": "INVENTORY_OUT_OF_STOCK",
            "reason_notes": f"Waiting on stock (Backorder Desk case {case.pk})",
        }
        planned.insert(0, Planned(Kind.HOLD, Platform.SHOPIFY, plan))
    return planned


# --------------------------------------------------------------------------- in words


def describe(kind: str, platform: str, plan: dict) -> str:
    if kind in StoreAction.PRODUCT_KINDS:
        return describe_product(kind, platform, plan)
    store = Platform(platform).label
    number = plan.get("order_number", "?")
    currency = plan.get("currency", "USD")
    if kind == Kind.CANCEL and platform == Platform.SHOPIFY:
        if plan.get("refund_amount"):
            money_part = f"refund {format_money(plan['refund_amount'], currency)} to {plan['refund_to']}"
        elif plan.get("payment_state") in {Order.PaymentState.PENDING, Order.PaymentState.AUTHORIZED}:
            money_part = "release the payment authorization (nothing was charged)"
        else:
            money_part = "nothing left to refund"
        who = (
            "Shopify emails the customer"
            if plan.get("notify_customer")
            else "Shopify does not email the customer (our own message goes out)"
        )
        return f"Will cancel order {number} on Shopify, {money_part}, no restock. {who}."
    if kind == Kind.CANCEL:
        return f"Will set order {number} to cancelled on {store} (this alone refunds nothing)."
    if kind == Kind.REFUND:
        items = f" for {', '.join(plan['items'])}" if plan.get("items") else ""
        if plan.get("after_cancel"):
            items += ", only after the cancellation succeeds (never if it fails)"
        if platform == Platform.SHOPIFY:
            units = " (unfulfilled units, not restocked)" if plan.get("lines") else ""
            return (
                f"Will refund {format_money(plan['amount'], currency)} on order {number} on Shopify{items}{units} "
                f"to the original payment."
            )
        how = "through the payment gateway" if plan.get("api_refund", True) else "as a record only (no gateway call)"
        return f"Will refund {format_money(plan['amount'], currency)} on order {number} on {store} {how}{items}."
    if kind == Kind.HOLD:
        return (
            f"Will hold fulfilment of order {number} on Shopify (inventory out of stock), "
            f"released when its units are allocated."
        )
    if kind == Kind.RELEASE_HOLD:
        return f"Will release our own fulfilment hold on order {number} on Shopify; other holds stay."
    if kind == Kind.TAG:
        return f"Will tag order {number} “{', '.join(plan.get('tags', []))}” on Shopify."
    return f"Will {kind} order {number} on {store}."


def preview(decision_or_action, case: Case | None = None, *, policy: StorePolicy | None = None) -> list[str]:
    """The plain-language lines shown before approval (for a decision) or beside an action."""
    if isinstance(decision_or_action, StoreAction):
        return [describe(decision_or_action.kind, decision_or_action.platform, decision_or_action.plan)]
    decision = decision_or_action
    case = case or decision.case
    planned = plan_for(decision, case, policy=policy)
    if planned:
        return [describe(p.kind, p.platform, p.plan) for p in planned]
    if decision.action == Decision.Action.PAUSE_PRODUCT and case.product_id:
        return ["Nothing is sent to a store: the desk does not know this product's id on Shopify or WooCommerce."]
    order = case.order
    if decision.action in {Decision.Action.CANCEL, Decision.Action.REFUND} and order is not None:
        if order.channel not in PLATFORM_OF:
            what = "cancel the order" if decision.action == Decision.Action.CANCEL else "refund"
            return [
                f"Nothing is sent to a store: order {order.number} came from {order.get_channel_display()}; "
                f"{what} where the order was taken."
            ]
        return [f"Nothing to send to {Platform(PLATFORM_OF[order.channel]).label}: no units or amount to refund."]
    return []
