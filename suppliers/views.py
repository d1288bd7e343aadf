"""Supplier pages: the list with scorecards, one supplier's scorecard and evidence trail, pasting evidence."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backorders.models import StorePolicy
from backorders.roles import is_staff_member

from .charts import column_chart
from .evidence import record_update
from .forms import EvidenceForm
from .models import PurchaseOrder, Supplier, SupplierSource, SupplierUpdate
from .scorecards import SCORE_WEIGHTS, scorecards

TRAIL_LENGTH = 50


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can see suppliers.")


def _get_supplier_for_user(request: HttpRequest, supplier_id: int) -> Supplier:
    _require_staff(request)
    return get_object_or_404(Supplier, pk=supplier_id)


@require_GET
def supplier_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    suppliers = list(Supplier.objects.order_by("-active", "name"))
    cards = scorecards(suppliers, policy=StorePolicy.objects.current())
    rows = [cards[s.pk] for s in suppliers]
    return render(request, "suppliers/supplier_list.html", {"cards": rows, "weights": SCORE_WEIGHTS})


def _detail_context(supplier: Supplier, form: EvidenceForm) -> dict:
    policy = StorePolicy.objects.current()
    card = scorecards([supplier], policy=policy)[supplier.pk]
    trail = list(
        SupplierUpdate.objects.filter(supplier=supplier)
        .select_related("product", "conflicts_with", "recorded_by")
        .order_by("-received_at", "-id")[:TRAIL_LENGTH]
    )
    sources = list(SupplierSource.objects.filter(supplier=supplier).select_related("product").order_by("product__sku"))
    skus = {s.product_id: s.product for s in sources}
    repeat = sorted(
        ((skus.get(pid), count) for pid, count in card.out_of_stock_updates.items() if count >= 2),
        key=lambda pair: -pair[1],
    )
    orders = list(PurchaseOrder.objects.filter(supplier=supplier).order_by("-ordered_at")[:15])
    trend = card.trend
    return {
        "supplier": supplier,
        "card": card,
        "policy": policy,
        "trail": trail,
        "sources": sources,
        "repeat_stockouts": repeat,
        "purchase_orders": orders,
        "form": form,
        "weights": SCORE_WEIGHTS,
        "on_time_chart": column_chart(
            [(m.label, None if m.on_time_rate is None else 100 * m.on_time_rate) for m in trend],
            title="On-time deliveries by month (%)",
            unit="%",
            max_value=100,
        ),
        "lateness_chart": column_chart(
            [(m.label, m.mean_lateness) for m in trend],
            title="Mean days late by month",
            unit="d",
            color="#a15c00",
        ),
    }


@require_GET
def supplier_detail(request: HttpRequest, supplier_id: int) -> HttpResponse:
    supplier = _get_supplier_for_user(request, supplier_id)
    form = EvidenceForm(supplier=supplier)
    return render(request, "suppliers/supplier_detail.html", _detail_context(supplier, form))


@require_POST
def evidence_create(request: HttpRequest, supplier_id: int) -> HttpResponse:
    """Paste what a supplier said; it becomes a SupplierUpdate on the trail."""
    supplier = _get_supplier_for_user(request, supplier_id)
    with timezone.override(zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE)):
        form = EvidenceForm(request.POST, supplier=supplier)
        valid = form.is_valid()
    if valid:
        try:
            update = record_update(
                supplier,
                form.cleaned_data["text"],
                product=form.cleaned_data["product"],
                user=request.user,
                received_at=form.cleaned_data["received_at"],
            )
        except ValidationError as exc:
            form.add_error("text", exc)
        else:
            messages.success(
                request,
                f"Recorded: {update.get_kind_display().lower()}, {update.get_stock_status_display().lower()}, "
                f"{update.get_strength_display().lower()}"
                + (f" ({update.strength_reason})" if update.strength_reason else "")
                + ".",
            )
            return redirect("suppliers:supplier-detail", supplier_id=supplier.pk)
    return render(request, "suppliers/supplier_detail.html", _detail_context(supplier, form), status=400)
