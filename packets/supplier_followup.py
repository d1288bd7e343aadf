"""Following up with suppliers: chase drafts after a silence, and purchase-order proposals.

``draft_supplier_followups(now)`` is what the sweep calls. It is set-based (a fixed number of
queries for the facts, then one small transaction per supplier that needs something) and
idempotent: running it twice in the same silence window drafts nothing new, and a supplier
never has more than one proposed purchase order (the database refuses a second).

- **Chase**: a supplier with orders waiting on its products that has said nothing for its
  silence window (``Supplier.silence_business_days`` or the policy's) gets a draft email, a
  ``Message`` to the supplier that is approved like any other. Its idempotency key names the
  supplier and the silence window, so the next window drafts the next chase. The silence is
  recorded on the supplier's trail (a ``SILENCE`` update) for the scorecard.
- **Purchase-order proposal**: for each backordered SKU, the units short (waiting demand minus
  free stock minus units on open purchase orders) go on the supplier's proposed purchase order,
  for the owner to approve (``approve_purchase_order``). A SKU that cannot be reordered never
  does: discontinued in the catalog, or its newest supplier word says discontinued or variant
  missing (what the packet's supply verdict reads too). Its line leaves an open proposal.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Max, Min, OuterRef, Subquery, Sum
from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import OrderLine, Product, StorePolicy
from backorders.roles import is_owner
from suppliers.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierSource, SupplierUpdate

from .models import AuditEvent, IllegalTransition, Message
from .notify import channels
from .notify.purchase_orders import send_purchase_order

OPEN_PO_STATUSES = [PurchaseOrder.Status.APPROVED, PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIAL]


@dataclass
class FollowupResult:
    chases: list[int] = field(default_factory=list)  # message ids drafted this run
    no_email: list[int] = field(default_factory=list)  # silent suppliers we cannot write to
    proposals: list[int] = field(default_factory=list)  # purchase orders proposed or changed this run


@dataclass
class _Need:
    product: Product
    source: SupplierSource
    waiting: int
    waiting_since: datetime
    free: int
    on_order: int
    orderable: bool = True  # False: discontinued or variant missing, never reordered

    @property
    def short(self) -> int:
        return max(0, self.waiting - max(self.free, 0) - self.on_order)


def _needs(now: datetime) -> dict[int, list[_Need]]:
    """Waiting demand on each supplier's products, four queries."""
    waiting = {
        row["product_id"]: row
        for row in OrderLine.objects.waiting()
        .values("product_id")
        .annotate(units=Sum(F("quantity") - F("allocated")), since=Min("order__placed_at"))
    }
    if not waiting:
        return {}
    sources = (
        SupplierSource.objects.filter(
            product_id__in=waiting, active=True, role=SupplierSource.Role.PRIMARY, supplier__active=True
        )
        .select_related("supplier", "product")
        .annotate(latest_stock=Subquery(_latest_stock_word().values("stock_status")[:1]))
    )
    on_order = defaultdict(int)
    for product_id, quantity, received in PurchaseOrderLine.objects.filter(
        product_id__in=waiting, purchase_order__status__in=OPEN_PO_STATUSES
    ).values_list("product_id", "quantity", "received_quantity"):
        on_order[product_id] += quantity - received
    needs: dict[int, list[_Need]] = defaultdict(list)
    for source in sources:
        row = waiting[source.product_id]
        product = source.product
        needs[source.supplier_id].append(
            _Need(
                product=product,
                source=source,
                waiting=row["units"],
                waiting_since=row["since"] or now,
                free=product.on_hand - product.allocated,
                on_order=on_order[product.pk],
                orderable=product.status != Product.Status.DISCONTINUED and source.latest_stock not in NOT_ORDERABLE,
            )
        )
    return needs


# A product the supplier's newest word says cannot be supplied as ordered: never reordered.
NOT_ORDERABLE = frozenset({SupplierUpdate.StockStatus.DISCONTINUED, SupplierUpdate.StockStatus.VARIANT_MISSING})


def _latest_stock_word():
    """The product's newest supplier evidence that says something about stock, newest first (the
    same reading as ``packets.rules.supply.classify_supply``: silences and unknown statuses skipped)."""
    return (
        SupplierUpdate.objects.filter(product_id=OuterRef("product_id"))
        .exclude(kind=SupplierUpdate.Kind.SILENCE)
        .exclude(kind=SupplierUpdate.Kind.STOCK_STATUS, stock_status=SupplierUpdate.StockStatus.UNKNOWN)
        .order_by("-received_at", "-id")
    )


def draft_supplier_followups(now: datetime | None = None) -> FollowupResult:
    """Draft chase emails for silent suppliers and propose purchase orders for what is short."""
    now = now or timezone.now()
    policy = StorePolicy.objects.current()
    calendar = BusinessCalendar.for_policy(policy)
    result = FollowupResult()
    needs = _needs(now)
    if not needs:
        return result
    last_heard = dict(
        SupplierUpdate.objects.filter(supplier_id__in=needs)
        .exclude(kind=SupplierUpdate.Kind.SILENCE)
        .values("supplier_id")
        .annotate(at=Max("received_at"))
        .values_list("supplier_id", "at")
    )
    for supplier_id, supplier_needs in sorted(needs.items()):
        supplier = supplier_needs[0].source.supplier
        _chase(supplier, supplier_needs, last_heard.get(supplier_id), now, policy, calendar, result)
        _propose(supplier, supplier_needs, now, result)
    return result


def silence_window(supplier: Supplier, policy: StorePolicy) -> int:
    return supplier.silence_business_days or policy.supplier_silence_business_days


def _chase(supplier, needs, heard_at, now, policy, calendar, result) -> None:
    waiting_since = min(n.waiting_since for n in needs)
    anchor = max(heard_at, waiting_since) if heard_at else waiting_since
    window = max(1, silence_window(supplier, policy))
    silent_days = calendar.business_days_between(anchor, now)
    if silent_days < window:
        return
    if not supplier.email or not channels.ready(channels.EMAIL):
        result.no_email.append(supplier.pk)  # no address, or no email set up: nothing is drafted
        return
    key = f"supplier-chase:{supplier.pk}:{anchor:%Y%m%dT%H%M%S}:{silent_days // window}"
    with transaction.atomic():
        message, created = Message.objects.get_or_create(
            idempotency_key=key,
            defaults={
                "supplier": supplier,
                "audience": Message.Audience.SUPPLIER,
                "channel": Message.Channel.EMAIL,
                "to": supplier.email,
                "subject": _subject(needs),
                "body": _chase_body(supplier, needs, heard_at, calendar),
                "status": Message.Status.DRAFT,
                "created_at": now,
            },
        )
        if not created:
            return
        SupplierUpdate.objects.create(
            supplier=supplier,
            kind=SupplierUpdate.Kind.SILENCE,
            strength=SupplierUpdate.Strength.CONFIRMED,
            strength_reason=f"No answer for {silent_days} business days with orders waiting",
            received_at=now,
        )
        AuditEvent.record(
            "supplier.chase_drafted",
            obj=message,
            summary=f"Chase drafted to {supplier.name} after {silent_days} silent business days",
            supplier_id=supplier.pk,
        )
    result.chases.append(message.pk)


def _subject(needs) -> str:
    count = len(needs)
    return f"Stock and dispatch update needed: {count} item{'s' if count != 1 else ''} with customer orders waiting"


def _chase_body(supplier, needs, heard_at, calendar) -> str:
    greeting = f"Hello {supplier.contact_name}," if supplier.contact_name else "Hello,"
    heard_on = calendar.local_date(heard_at) if heard_at else None
    since = f"since {heard_on:%B} {heard_on.day}" if heard_on else "about these items yet"
    lines = []
    for need in sorted(needs, key=lambda n: n.product.sku):
        theirs = f" (your ref. {need.source.supplier_sku})" if need.source.supplier_sku else ""
        lines.append(f"- {need.product.sku}{theirs}, {need.product.display_title}: {need.waiting} units on order")
    return (
        f"{greeting}\n\n"
        f"We have customer orders waiting on the items below and have not heard from you {since}. "
        "For each one, could you tell us:\n"
        "1. whether it is in stock;\n"
        "2. if not, the date you expect it (or that no date is known yet);\n"
        "3. for anything already dispatched, the carrier and tracking number.\n\n" + "\n".join(lines) + "\n\nThank you."
    )


def _propose(supplier, needs, now, result) -> None:
    """Make the supplier's proposed purchase order carry exactly what is short; drop it when nothing is."""
    short = {n.product.pk: n for n in needs if n.short > 0 and n.orderable}
    with transaction.atomic():
        Supplier.objects.select_for_update().filter(pk=supplier.pk).first()
        proposal = (
            PurchaseOrder.objects.filter(supplier=supplier, status=PurchaseOrder.Status.PROPOSED)
            .prefetch_related("lines")
            .first()
        )
        if proposal is None and not short:
            return
        if proposal is None:
            proposal = PurchaseOrder.objects.create(
                supplier=supplier,
                reference=f"PROP-{supplier.code.upper()}-{uuid.uuid4().hex[:6].upper()}",
                status=PurchaseOrder.Status.PROPOSED,
                ordered_at=now,
                notes="Proposed for backordered SKUs; needs the owner's approval.",
            )
            AuditEvent.record(
                "purchase_order.proposed", obj=proposal, summary=f"Proposed {proposal.reference} to {supplier.name}"
            )
        existing = {line.product_id: line for line in proposal.lines.all()}
        changed = False
        for product_id, need in short.items():
            line = existing.get(product_id)
            if line is None:
                PurchaseOrderLine.objects.create(
                    purchase_order=proposal, product=need.product, quantity=need.short, unit_cost=need.source.unit_cost
                )
                changed = True
            elif line.quantity != need.short:
                line.quantity = need.short
                line.save(update_fields=["quantity"])
                changed = True
        gone = [line.pk for pid, line in existing.items() if pid not in short]
        if gone:
            PurchaseOrderLine.objects.filter(pk__in=gone).delete()
            changed = True
        if not short:
            _move(proposal, PurchaseOrder.Status.CANCELLED, actor=None, reason="Nothing is short any more")
        if changed:
            result.proposals.append(proposal.pk)


def _move(po: PurchaseOrder, new: str, *, actor, reason: str) -> None:
    if not po.can_move_to(new):
        raise IllegalTransition(f"A purchase order cannot go from {po.status} to {new}.")
    old = po.status
    po.status = new
    po.save(update_fields=["status"])
    AuditEvent.record(f"purchase_order.{new}", actor=actor, obj=po, summary=f"{old} → {new}. {reason}".strip(), old=old)


def approve_purchase_order(purchase_order_id: int, user) -> PurchaseOrder:
    """The owner approves a proposed purchase order; its units count as on order from now, and it
    goes to the supplier (``packets.notify.purchase_orders.send_purchase_order``)."""
    if not is_owner(user):
        raise PermissionDenied("Only the owner approves purchase orders.")
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().select_related("supplier").get(pk=purchase_order_id)
        _move(po, PurchaseOrder.Status.APPROVED, actor=user, reason="Approved by the owner")
        for product_id, quantity in po.lines.values_list("product_id", "quantity"):
            Product.objects.filter(pk=product_id).update(on_order=F("on_order") + quantity)
        send_purchase_order(po, user)
    return po
