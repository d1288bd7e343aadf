"""Product actions proposed outside a decision: by a person on the product page, and by the supply.

* ``propose(product_id, kind, user, text="")``: a staff member stops or resumes selling, or writes
  or removes the backorder wording. Their click is the approval (staff may approve product
  actions, like holds and tags); the wording must keep the message guidelines and name no date.
  A change while the opposite one is still on its way is refused: it would race it.
* ``propose_resumes(now=None)``: after each sweep (``AFTER_SWEEP``). A product we stopped selling
  whose supply came back (the case that stopped it is resolved, or units are free again, and it is
  not discontinued) gets *resume selling*; a product page that shows our backorder wording gets
  *remove the wording* once units are free or its case is resolved. Each is approved by whoever
  approved the action it undoes, and goes out after commit. A stop asked for on the product page
  is resumed on the product page.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from backorders.models import Product, StorePolicy
from backorders.roles import is_staff_member

from ..models import AuditEvent, Case, StoreAction
from . import create_action
from .preview import product_plans
from .storefront import OPPOSITE, SELLING_KINDS, WORDING_KINDS, wording_issues

Kind = StoreAction.Kind
Status = StoreAction.Status
OPEN = [Status.PENDING, Status.RUNNING, Status.NEEDS_CHECK]
VERBS = {
    "stop": Kind.STOP_SELLING,
    "resume": Kind.RESUME_SELLING,
    "wording": Kind.SET_WORDING,
    "clear_wording": Kind.CLEAR_WORDING,
}


def stopped_before(stop: StoreAction | None) -> str:
    """What WooCommerce's ``backorders`` was before our stop (kept in the stop's response)."""
    if stop is None or not isinstance(stop.response, dict):
        return ""
    return str((stop.response.get("before") or {}).get("backorders") or "")


def reactivates(stop: StoreAction | None) -> str:
    """``ACTIVE`` when resuming after a stop that set the Shopify product to draft."""
    return "ACTIVE" if stop is not None and stop.plan.get("product_status") == "DRAFT" else ""


def last_succeeded(product: Product, kinds) -> StoreAction | None:
    return (
        StoreAction.objects.filter(product=product, kind__in=list(kinds), status=Status.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )


def propose(product_id: int, kind: str, user, *, text: str = "") -> StoreAction:
    """One product action asked for by ``user`` on the product page, approved by that click."""
    if not is_staff_member(user):
        raise PermissionDenied("Only the store's owner and support staff can change what the store sells.")
    if kind not in StoreAction.PRODUCT_KINDS:
        raise ValidationError(f"Unknown product action {kind!r}.")
    with transaction.atomic():
        product = Product.objects.select_for_update(no_key=True).get(pk=product_id)
        if kind == Kind.SET_WORDING:
            issues = wording_issues(text, product)
            if issues:
                raise ValidationError(issues)
        policy = StorePolicy.objects.current()
        stop = last_succeeded(product, [Kind.STOP_SELLING]) if kind == Kind.RESUME_SELLING else None
        status = "DRAFT" if kind == Kind.STOP_SELLING and policy.stop_selling_drafts_product else reactivates(stop)
        planned = product_plans(product, kind, before=stopped_before(stop), text=text, product_status=status)
        if not planned:
            raise ValidationError(
                f"The desk does not know {product.sku}'s id on Shopify or WooCommerce, so nothing can be sent."
            )
        [plan] = planned
        opposite = StoreAction.objects.filter(
            platform=plan.platform, target=plan.target, kind=OPPOSITE[kind], status__in=OPEN
        ).first()
        if opposite is not None:
            raise ValidationError(
                f"“{opposite.get_kind_display()}” is still on its way to the store ({opposite.get_status_display()}): "
                "wait until it finished."
            )
        case = product.cases.open().order_by("-opened_at", "-id").first()
        action = create_action(None, case, plan, user)
        if kind == Kind.RESUME_SELLING:
            back_on_sale(product, case, user, f"{user.get_username()} resumed selling it")
        return action


def back_on_sale(product: Product, case, actor, why: str) -> None:
    """A paused product is active again in the desk too (the pause decision had paused it)."""
    if product.status != Product.Status.PAUSED:
        return
    Product.objects.filter(pk=product.pk, status=Product.Status.PAUSED).update(status=Product.Status.ACTIVE)
    product.status = Product.Status.ACTIVE
    AuditEvent.record(
        "product.resumed",
        actor=actor,
        case=case,
        obj=product,
        summary=f"{product.sku} on sale again: {why}",
        old=Product.Status.PAUSED,
    )


def _standing(kinds) -> QuerySet:
    """The newest succeeded action of ``kinds`` per product, not followed by another of ``kinds``."""
    later = StoreAction.objects.filter(
        platform=OuterRef("platform"),
        target=OuterRef("target"),
        kind__in=list(kinds),
        created_at__gt=OuterRef("created_at"),
    )
    return (
        StoreAction.objects.filter(status=Status.SUCCEEDED, product__isnull=False)
        .annotate(superseded=Exists(later))
        .filter(superseded=False)
        .select_related("product", "case", "decision", "approved_by")
        .order_by("created_at", "id")
    )


def _supply_back(action: StoreAction) -> bool:
    """The case behind the action is resolved, or more units are free than when it was made."""
    product = action.product
    if product.status == Product.Status.DISCONTINUED:
        return False
    resolved = action.case is not None and action.case.status == Case.Status.RESOLVED
    return resolved or product.available > max(0, int(action.plan.get("free_units") or 0))


def propose_resumes(now=None) -> list[StoreAction]:
    """Resume selling, and remove our wording, where the supply came back. Returns the new actions."""
    created = []
    with transaction.atomic():
        # a stop a person asked for on the product page is undone by a person, not by the supply
        stopped = _standing(SELLING_KINDS).filter(kind=Kind.STOP_SELLING, decision__isnull=False)
        stops = [a for a in stopped if _supply_back(a)]
        for stop in stops:
            planned = product_plans(
                stop.product, Kind.RESUME_SELLING, before=stopped_before(stop), product_status=reactivates(stop)
            )
            for plan in planned:
                created.append(create_action(stop.decision, stop.case, plan, stop.approved_by))
            if planned:
                back_on_sale(stop.product, stop.case, None, "its supply came back")
        wordings = [a for a in _standing(WORDING_KINDS).filter(kind=Kind.SET_WORDING) if _supply_back(a)]
        for wording in wordings:
            for plan in product_plans(wording.product, Kind.CLEAR_WORDING):
                created.append(create_action(wording.decision, wording.case, plan, wording.approved_by))
    return created
