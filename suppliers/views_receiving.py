"""The owner records a purchase order's delivery: units on hand at once, allocation applied or proposed."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from backorders.roles import is_owner

from .models import PurchaseOrder
from .receiving import RECEIVABLE, ReceivingError, receive_purchase_order


def _parse(request: HttpRequest, line_ids: list[int]) -> tuple[dict[int, int], dict[int, str]]:
    quantities, errors = {}, {}
    for line_id in line_ids:
        raw = request.POST.get(f"line-{line_id}", "").strip() or "0"
        try:
            quantities[line_id] = int(raw)
        except ValueError:
            errors[line_id] = f"{raw!r} is not a whole number of units."
    return quantities, errors


def _get_order_for_owner(request: HttpRequest, purchase_order_id: int) -> PurchaseOrder:
    if not is_owner(request.user):
        raise PermissionDenied("Only the owner records deliveries.")
    return get_object_or_404(PurchaseOrder.objects.select_related("supplier"), pk=purchase_order_id)


def _render(
    request: HttpRequest,
    order: PurchaseOrder,
    lines: list,
    *,
    entered: dict[int, int] | None = None,
    errors: dict[int | None, str] | None = None,
) -> HttpResponse:
    entered, errors = entered or {}, errors or {}
    rows = [
        {
            "line": line,
            "left": line.quantity - line.received_quantity,
            "value": entered.get(line.pk, line.quantity - line.received_quantity),
            "error": errors.get(line.pk, ""),
        }
        for line in lines
    ]
    context = {
        "order": order,
        "rows": rows,
        "form_error": errors.get(None, ""),
        "receivable": order.status in RECEIVABLE,
    }
    return render(request, "suppliers/purchase_order_receive.html", context, status=400 if errors else 200)


@require_GET
def purchase_order_receive(request: HttpRequest, purchase_order_id: int) -> HttpResponse:
    order = _get_order_for_owner(request, purchase_order_id)
    return _render(request, order, list(order.lines.select_related("product").order_by("pk")))


@require_POST
def purchase_order_receipt_create(request: HttpRequest, purchase_order_id: int) -> HttpResponse:
    order = _get_order_for_owner(request, purchase_order_id)
    lines = list(order.lines.select_related("product").order_by("pk"))
    entered, errors = _parse(request, [line.pk for line in lines])
    if errors:
        return _render(request, order, lines, entered=entered, errors=errors)
    try:
        outcomes = receive_purchase_order(
            order.pk, entered, user=request.user, approve=request.POST.get("approve") == "on"
        )
    except ReceivingError as error:
        order.refresh_from_db()
        return _render(request, order, lines, entered=entered, errors=error.errors)
    proposed = sum(1 for outcome in outcomes if outcome.proposal is not None)
    given = sum(outcome.record.applied_units for outcome in outcomes)
    text = f"Received {sum(entered.values())} unit(s): {given} allocated to waiting lines."
    if proposed:
        text += f" {proposed} allocation(s) await your review (supply is short)."
    messages.success(request, text)
    return redirect("suppliers:purchase-order-receive", purchase_order_id=order.pk)
