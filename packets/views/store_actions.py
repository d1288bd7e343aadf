"""The store-actions panel (polled while actions run) and the owner's "run again"."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from backorders.roles import is_owner, is_staff_member
from packets.audit import record_refusal
from packets.models import Case, StoreAction
from packets.store_actions import retry_action


@require_GET
def store_action_panel(request: HttpRequest, case_id: int) -> HttpResponse:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can see cases.")
    case = get_object_or_404(Case.objects.select_related("order", "product"), pk=case_id)
    response = render(request, "packets/store_actions/_panel.html", {"case": case})
    if request.htmx and not case.store_actions.exclude(status__in=["succeeded", "failed"]).exists():
        response.status_code = 286  # htmx stops polling: every action has finished
    return response


@require_POST
def store_action_retry(request: HttpRequest, action_id: int) -> HttpResponse:
    action = get_object_or_404(StoreAction.objects.select_related("case"), pk=action_id)
    if not is_owner(request.user):
        reason = "Only an owner can run a store action again."
        record_refusal(request, "store_action.retry", reason, case=action.case)
        raise PermissionDenied(reason)
    try:
        retry_action(action.pk, request.user, without_gateway=bool(request.POST.get("without_gateway")))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{action.get_kind_display()} queued to run again.")
    if action.case_id is None:  # a product action asked for on the product page
        return redirect("packets:product-detail", product_id=action.product_id)
    return redirect("packets:case-detail", case_id=action.case_id)
