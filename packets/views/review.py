"""The weekly review page and its PDF, the owner's approval of proposed purchase orders, and
recording what became of sent ones (the supplier's confirmation, a portal submission)."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backorders.roles import is_owner, is_staff_member
from packets.audit.pdf import render_pdf
from packets.models import IllegalTransition
from packets.notify.purchase_orders import confirm_purchase_order, record_portal_submission
from packets.review import build_weekly_review
from packets.supplier_followup import approve_purchase_order
from suppliers.models import PurchaseOrder


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can see the weekly review.")


@require_GET
def weekly_review(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    return render(request, "packets/review_weekly.html", build_weekly_review())


@require_GET
def weekly_review_pdf(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    pdf = render_pdf("packets/review_weekly_print.html", build_weekly_review())
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="weekly-review-{timezone.localdate():%Y-%m-%d}.pdf"'
    return response


@require_POST
def purchase_order_approve(request: HttpRequest, purchase_order_id: int) -> HttpResponse:
    if not is_owner(request.user):
        raise PermissionDenied("Only the owner approves purchase orders.")
    po = get_object_or_404(PurchaseOrder, pk=purchase_order_id)
    try:
        approve_purchase_order(po.pk, request.user)
    except IllegalTransition as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain")
    messages.success(request, f"Approved {po.reference} for {po.supplier.name}.")
    return redirect("packets:review-weekly")


@require_POST
def purchase_order_confirm(request: HttpRequest, purchase_order_id: int) -> HttpResponse:
    """A person records the supplier's confirmation (by phone, on its portal): the date becomes the quote."""
    _require_staff(request)
    po = get_object_or_404(PurchaseOrder, pk=purchase_order_id)
    raw = request.POST.get("arrives_on", "").strip()
    try:
        arrives_on = date.fromisoformat(raw)
    except ValueError:
        return HttpResponse(
            f"Give the arrival date the supplier confirmed (YYYY-MM-DD), not {raw!r}.",
            status=400,
            content_type="text/plain",
        )
    words = request.POST.get("words", "").strip()[:2000]
    try:
        confirm_purchase_order(po, arrives_on=arrives_on, user=request.user, text=words)
    except ValueError as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain")
    messages.success(request, f"Recorded {po.reference} as confirmed for {arrives_on:%b %-d}.")
    return redirect("packets:review-weekly")


@require_POST
def purchase_order_submitted(request: HttpRequest, purchase_order_id: int) -> HttpResponse:
    """A person submitted an approved order on the supplier's portal: it is sent."""
    _require_staff(request)
    po = get_object_or_404(PurchaseOrder, pk=purchase_order_id)
    if po.status != PurchaseOrder.Status.APPROVED or po.sent_via != PurchaseOrder.SentVia.PORTAL:
        return HttpResponse(
            f"{po.reference} is not an approved order waiting to be submitted on a portal.",
            status=409,
            content_type="text/plain",
        )
    record_portal_submission(po, request.user)
    messages.success(request, f"Recorded {po.reference} as submitted on {po.sent_to}.")
    return redirect("packets:review-weekly")
