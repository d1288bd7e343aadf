"""The owner's review of stock allocations: open proposals, who gets units and why, and the trail."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from .allocation import AllocationError, approve_allocation
from .allocation_plan import class_label
from .models import StockAllocation
from .roles import is_owner, is_staff_member

PAGE_SIZE = 30


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can see stock allocations.")


def _entries(record: StockAllocation) -> tuple[list[dict], list[dict]]:
    getting, waiting = [], []
    for entry in record.plan.get("entries", []):
        shown = {
            **entry,
            "class_label": class_label(entry["class"]),
            "placed": datetime.fromisoformat(entry["placed_at"]),
        }
        (getting if entry["give"] else waiting).append(shown)
    return getting, waiting


@require_GET
def allocation_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    proposals = list(StockAllocation.objects.proposed().for_review())
    history = StockAllocation.objects.for_review().exclude(status=StockAllocation.Status.PROPOSED)
    page = Paginator(history, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "backorders/stock_allocation_list.html", {"proposals": proposals, "page": page})


def _detail(request: HttpRequest, record: StockAllocation, *, error: str = "", status: int = 200) -> HttpResponse:
    getting, waiting = _entries(record)
    context = {
        "record": record,
        "getting": getting,
        "waiting": waiting,
        "replaced_by": record.replaced_by.first() if record.status == StockAllocation.Status.SUPERSEDED else None,
        "can_approve": is_owner(request.user) and record.status == StockAllocation.Status.PROPOSED,
        "error": error,
    }
    return render(request, "backorders/stock_allocation_detail.html", context, status=status)


@require_GET
def allocation_detail(request: HttpRequest, allocation_id: int) -> HttpResponse:
    _require_staff(request)
    return _detail(request, get_object_or_404(StockAllocation.objects.for_review(), pk=allocation_id))


@require_POST
def allocation_approve(request: HttpRequest, allocation_id: int) -> HttpResponse:
    if not is_owner(request.user):
        raise PermissionDenied("Only the owner applies a stock allocation.")
    get_object_or_404(StockAllocation, pk=allocation_id)
    try:
        outcome = approve_allocation(allocation_id, user=request.user)
    except AllocationError as error:
        record = get_object_or_404(StockAllocation.objects.for_review(), pk=allocation_id)
        return _detail(request, record, error=str(error), status=409)
    messages.success(
        request, f"Applied: {outcome.record.applied_units} unit(s) to {len(outcome.record.applied)} line(s)."
    )
    return redirect("backorders:stock-allocation-detail", allocation_id=allocation_id)
