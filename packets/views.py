"""The owner's and support's pages for cases."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from backorders.roles import is_staff_member

from .models import Case

PAGE_SIZE = 25


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can see cases.")


def _get_case_for_user(request: HttpRequest, case_id: int) -> Case:
    _require_staff(request)
    return get_object_or_404(
        Case.objects.select_related("order__customer", "product", "shipment", "supplier", "assignee"), pk=case_id
    )


@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    page = Paginator(Case.objects.for_queue(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "packets/case_list.html", {"page": page})


@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _get_case_for_user(request, case_id)
    return render(request, "packets/case_detail.html", {"case": case, "packet": case.latest_packet})
