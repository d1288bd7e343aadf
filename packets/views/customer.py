"""The customer's order page, reached from a signed link in our messages; no login.

It shows where each item stands with an honest range (never one exact date), and offers a
one-click cancellation request. The request does not cancel or refund anything by itself: it is
recorded, the order's case goes to the owner, and the customer is told the owner will confirm.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from backorders.calendar import BusinessCalendar
from backorders.formats.text import between
from backorders.models import Order, OrderLine, StorePolicy
from packets.integrations.outbound import case_payload, case_updated, emit
from packets.models import AuditEvent, Case, InboundMessage
from packets.notify import customer_choices
from packets.notify.drafting import customer_date
from packets.notify.links import LinkExpired, LinkInvalid, read_token
from packets.sweep.refresh import refresh_after_commit
from suppliers.eta import customer_ranges

CANCEL_INTENT = "cancel"
WAITING_STATES = (OrderLine.State.BACKORDERED, OrderLine.State.PARTIAL, OrderLine.State.PENDING)


class _Refused(Exception):
    def __init__(self, response: HttpResponse):
        self.response = response


def _order_for_token(request: HttpRequest, token: str) -> Order:
    try:
        order_id = read_token(token)
    except LinkExpired:
        raise _Refused(
            _problem(
                request,
                410,
                "This link has expired",
                "For your security, order links work for a limited time. Reply to any of our messages "
                "and we will send you a fresh one.",
            )
        ) from None
    except LinkInvalid:
        raise _Refused(
            _problem(
                request,
                400,
                "This link is not valid",
                "The address may have been cut off or changed. Please open the link from our message again.",
            )
        ) from None
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        raise _Refused(
            _problem(request, 404, "We cannot find this order", "It may have been removed. Please contact us.")
        )
    return order


def _problem(request: HttpRequest, status: int, title: str, text: str) -> HttpResponse:
    return render(request, "packets/customer/problem.html", {"title": title, "text": text}, status=status)


def _cancel_request_of(order: Order) -> InboundMessage | None:
    """The customer's cancellation request for the order, if any (JSON ``contains`` is not portable
    to SQLite, so the intents are read in Python: an order has few inbound messages)."""
    for inbound in InboundMessage.objects.filter(order=order).order_by("received_at"):
        if CANCEL_INTENT in (inbound.intents or []):
            return inbound
    return None


def _page(
    request: HttpRequest,
    order: Order,
    token: str,
    *,
    status: int = 200,
    just_requested: bool = False,
    just_chose: str = "",
):
    policy = StorePolicy.objects.current()
    today = BusinessCalendar.for_policy(policy).local_date(timezone.now())
    lines = list(order.lines.select_related("product").order_by("pk"))

    def is_waiting(line) -> bool:
        return order.status == Order.Status.OPEN and line.state in WAITING_STATES and line.short > 0

    waiting_products = {line.product_id: line.product for line in lines if is_waiting(line)}
    ranges = customer_ranges(waiting_products.values(), today=today, policy=policy) if waiting_products else {}
    rows = []
    for line in lines:
        waiting = is_waiting(line)
        eta = ranges.get(line.product_id) if waiting else None
        rows.append(
            {
                "line": line,
                "waiting": waiting,
                "eta_text": between(customer_date(eta.start, today), customer_date(eta.end, today)) if eta else "",
            }
        )
    context = {
        "order": order,
        "rows": rows,
        "token": token,
        "can_cancel": order.status == Order.Status.OPEN and any(row["waiting"] for row in rows),
        # a label alone is not a shipment: "Shipped" only once a carrier scan shows the parcel moving
        "parcel_moving": any(shipment.carrier_has_it for shipment in order.shipments.all()),
        "cancel_requested": just_requested or _cancel_request_of(order) is not None,
        "just_requested": just_requested,
        "store_name": settings.STORE_NAME,
    }
    packet = customer_choices.latest_packet_for(order) if context["can_cancel"] else None
    chosen = customer_choices.choices_made(order) if packet else set()
    context.update(
        {
            "offers_choices": packet is not None,
            "replacement": customer_choices.offered_replacement(packet),
            "chose_waiting": customer_choices.KEEP_WAITING in chosen,
            "chose_replacement": customer_choices.ACCEPT_REPLACEMENT in chosen,
            "just_chose": just_chose,
            "eta_texts": [row["eta_text"] for row in rows if row["eta_text"]],
        }
    )
    return render(request, "packets/customer/order.html", context, status=status)


@login_not_required
@never_cache
@require_GET
def customer_order(request: HttpRequest, token: str) -> HttpResponse:
    try:
        order = _order_for_token(request, token)
    except _Refused as refused:
        return refused.response
    return _page(request, order, token)


@login_not_required
@never_cache
@require_POST
def customer_cancel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        order = _order_for_token(request, token)
    except _Refused as refused:
        return refused.response
    if order.status != Order.Status.OPEN:
        return _problem(
            request,
            409,
            "This order can no longer be cancelled here",
            f"Order {order.number} is {order.get_status_display().lower()}. Please reply to our message and we "
            "will help.",
        )
    request_cancel(order, ip=request.META.get("REMOTE_ADDR", ""))
    return _page(request, order, token, just_requested=True)


@login_not_required
@never_cache
@require_POST
def customer_choose(request: HttpRequest, token: str) -> HttpResponse:
    """Keep waiting, or take the offered replacement: recorded on the case for the owner."""
    try:
        order = _order_for_token(request, token)
    except _Refused as refused:
        return refused.response
    choice = request.POST.get("choice", "")
    try:
        customer_choices.record_choice(order, choice, ip=request.META.get("REMOTE_ADDR", ""))
    except customer_choices.ChoiceNotOffered:
        return _problem(
            request,
            409,
            "This choice is not available for this order",
            f"Order {order.number} no longer offers it. Please reply to our message and we will help.",
        )
    return _page(request, order, token, just_chose=choice)


def request_cancel(order: Order, *, ip: str = "") -> InboundMessage:
    """Record the customer's cancellation request and put the order's case before the owner.
    A repeated click records nothing new."""
    with transaction.atomic():
        locked = Order.objects.select_for_update(of=("self",)).select_related("customer").get(pk=order.pk)
        existing = _cancel_request_of(locked)
        case = _case_for(locked)
        if existing is not None and case.status == Case.Status.AWAITING_OWNER:
            return existing
        inbound = existing or InboundMessage.objects.create(
            case=case,
            customer=locked.customer,
            order=locked,
            from_address="order page (signed link)",
            subject=f"Cancellation request for order {locked.number}",
            body="The customer asked to cancel the waiting items from the order page.",
            intents=[CANCEL_INTENT],
            escalated=True,
        )
        if case.risk_rank < Case.RISK_RANK[Case.Risk.REFUND_RISK]:
            case.set_risk(Case.Risk.REFUND_RISK)
            case.save(update_fields=["risk_level", "risk_rank", "updated_at"])
        status_was = case.status
        case.set_status(Case.Status.AWAITING_OWNER, reason="The customer asked to cancel from the order page")
        case_updated(case, "message", status_was=status_was)
        AuditEvent.record(
            "customer.cancel_request",
            case=case,
            obj=inbound,
            summary=f"Customer asked to cancel order {locked.number}; the owner confirms the refund",
            ip=ip,
        )
        refresh_after_commit(case.pk)
    return inbound


def _case_for(order: Order) -> Case:
    case = Case.objects.open().filter(order=order).order_by("-opened_at").first()
    if case is not None:
        return case
    key = f"cancel-request:order:{order.pk}"
    try:
        with transaction.atomic():
            case = Case.objects.create(
                kind=Case.Kind.BACKORDER,
                category=Case.Category.UNCLEAR,
                status=Case.Status.OPEN,
                dedupe_key=key,
                title=f"Order {order.number}: the customer asked to cancel",
                order=order,
                order_total=order.total,
                order_promised_ship_by=order.promised_ship_by,
                customer_silent_since=timezone.now(),
            )
            emit("case.opened", case_payload(case), case=case)
    except IntegrityError:
        case = Case.objects.open().get(dedupe_key=key)
    return case
