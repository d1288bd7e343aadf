"""The weekly review page and its PDF, and the owner's approval of proposed purchase orders."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backorders.roles import is_owner, is_staff_member
from packets.audit.pdf import render_pdf
from packets.models import IllegalTransition
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
