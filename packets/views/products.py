"""The product page: what the store sells and says about a product, and the changes sent there."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backorders.calendar import BusinessCalendar
from backorders.models import ChannelStock, Product, StorePolicy
from backorders.roles import is_owner, is_staff_member
from packets.audit import record_refusal
from packets.models import StoreAction
from packets.store_actions import preview
from packets.store_actions.selling import VERBS, propose
from packets.store_actions.stock_push import retry_push
from packets.store_actions.storefront import platform_of, weeks_wording
from suppliers.eta import customer_ranges

Kind = StoreAction.Kind
WAITING = {ChannelStock.Status.PENDING, ChannelStock.Status.RUNNING}


def _require_staff(request: HttpRequest, action: str = "") -> None:
    if not is_staff_member(request.user):
        reason = "Only the store's owner and support staff can see and change what the store sells."
        if action and request.user.is_authenticated:
            record_refusal(request, action, reason)
        raise PermissionDenied(reason)


def product_actions(product: Product) -> list[StoreAction]:
    """Every product action on this product, or on another variant of the same Shopify product."""
    same = Q(product=product)
    if product.shopify_product_id:
        same |= Q(platform=StoreAction.Platform.SHOPIFY, target=product.shopify_product_id)
    actions = list(
        StoreAction.objects.filter(same, kind__in=list(StoreAction.PRODUCT_KINDS))
        .select_related("approved_by", "case")
        .order_by("-created_at", "-id")
    )
    for action in actions:
        action.preview_line = preview(action)[0]
    return actions


def on_store(actions: list[StoreAction]) -> dict:
    """What the store shows now, from the newest succeeded actions (None: nothing sent yet)."""
    done = [a for a in actions if a.status == StoreAction.Status.SUCCEEDED]
    selling = next((a for a in done if a.kind in {Kind.STOP_SELLING, Kind.RESUME_SELLING}), None)
    wording = next((a for a in done if a.kind in {Kind.SET_WORDING, Kind.CLEAR_WORDING}), None)
    return {
        "selling": selling,
        "stopped": selling is not None and selling.kind == Kind.STOP_SELLING,
        "wording": wording,
        "wording_text": wording.plan.get("text", "") if wording is not None else "",
    }


def suggested_wording(product: Product, policy: StorePolicy) -> str:
    if product.status == Product.Status.DISCONTINUED:
        return "Sold out: no longer available."
    eta = customer_ranges([product], policy=policy).get(product.pk)
    if eta is None:
        return "Backordered: our supplier has not confirmed a date yet; we will email you when it ships."
    today = BusinessCalendar.for_policy(policy).local_date(timezone.now())
    return weeks_wording(eta.start, eta.end, today)


@require_GET
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    _require_staff(request)
    product = get_object_or_404(Product, pk=product_id)
    policy = StorePolicy.objects.current()
    actions = product_actions(product)
    store = on_store(actions)
    channel_stock = list(product.channel_stock.all())
    context = {
        "product": product,
        "platform": platform_of(product),
        "actions": actions,
        "store": store,
        # typed words sent back after a refusal, else what the page shows now, else the suggestion
        "wording": request.GET.get("wording", "")[:255] or store["wording_text"] or suggested_wording(product, policy),
        "channel_stock": channel_stock,
        "running": any(not a.is_finished for a in actions) or any(row.status in WAITING for row in channel_stock),
    }
    return render(request, "packets/product_detail.html", context)


@require_POST
def product_store_action(request: HttpRequest, product_id: int) -> HttpResponse:
    _require_staff(request, "product.store_action")
    product = get_object_or_404(Product, pk=product_id)
    kind = VERBS.get(request.POST.get("action", ""))
    if kind is None:
        return HttpResponse(
            "Say what to send: action must be stop, resume, wording or clear_wording.",
            status=400,
            content_type="text/plain",
        )
    try:
        action = propose(product.pk, kind, request.user, text=request.POST.get("text", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        if kind == Kind.SET_WORDING:  # back to the form with the words as they were typed
            query = urlencode({"wording": request.POST.get("text", "")})
            return redirect(f"{reverse('packets:product-detail', args=[product.pk])}?{query}")
    else:
        messages.success(request, f"{action.get_kind_display()} approved: it goes to the store now.")
    return redirect("packets:product-detail", product_id=product.pk)


@require_POST
def product_stock_retry(request: HttpRequest, product_id: int) -> HttpResponse:
    """An owner sends a failed stock push to one channel again."""
    product = get_object_or_404(Product, pk=product_id)
    if not is_owner(request.user):
        reason = "Only an owner can send a stock push again."
        if request.user.is_authenticated:
            record_refusal(request, "product.stock_retry", reason)
        raise PermissionDenied(reason)
    row = ChannelStock.objects.filter(product=product, platform=request.POST.get("platform", "")).first()
    if row is None:
        return HttpResponse(
            "Say which channel: platform must be one this product's stock is pushed to (shopify or woocommerce).",
            status=400,
            content_type="text/plain",
        )
    try:
        retry_push(row.pk, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The stock for {row.get_platform_display()} is sent again now.")
    return redirect("packets:product-detail", product_id=product.pk)
