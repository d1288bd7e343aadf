"""Supplier follow-up: chase drafts after a silence, purchase-order proposals the owner approves."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.urls import reverse

from packets.models import AuditEvent, IllegalTransition, Message
from packets.notify.messaging import approve_message
from packets.supplier_followup import approve_purchase_order, draft_supplier_followups
from suppliers.models import PurchaseOrder, SupplierUpdate
from tests import factories

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, 15, tzinfo=UTC)


def waiting_on(source, *, quantity=3, placed_at=MONDAY - timedelta(days=14)):
    """An open order with ``quantity`` units backordered on the source's product."""
    product = source.product
    product.on_hand, product.allocated = 0, 0
    product.save()
    return factories.OrderLineFactory(
        order__placed_at=placed_at, product=product, quantity=quantity, state="backordered", backordered_at=placed_at
    )


@pytest.fixture
def source():
    supplier = factories.SupplierFactory(name="Copperline Goods", code="copperline", contact_name="Marta")
    return factories.SupplierSourceFactory(supplier=supplier, supplier_sku="CL-KET-2", unit_cost="58.00")


def test_it_drafts_a_chase_to_a_supplier_silent_past_its_window(source, policy):
    waiting_on(source)
    result = draft_supplier_followups(MONDAY)
    message = Message.objects.get(pk__in=result.chases)
    assert (message.audience, message.channel, message.status) == ("supplier", "email", "draft")
    assert message.to == source.supplier.email and message.supplier == source.supplier
    assert source.product.sku in message.body and "CL-KET-2" in message.body and "Hello Marta" in message.body
    assert "tracking number" in message.body
    silence = SupplierUpdate.objects.get(kind=SupplierUpdate.Kind.SILENCE)
    assert silence.supplier == source.supplier and silence.received_at == MONDAY
    assert AuditEvent.objects.filter(action="supplier.chase_drafted").count() == 1


def test_it_drafts_nothing_new_when_run_again_in_the_same_window(source, policy):
    waiting_on(source)
    first = draft_supplier_followups(MONDAY)
    again = draft_supplier_followups(MONDAY + timedelta(hours=3))
    assert len(first.chases) == 1 and again.chases == [] and again.proposals == []
    assert Message.objects.count() == 1 and PurchaseOrder.objects.count() == 1


def test_it_drafts_the_next_chase_when_the_next_window_passes(source, policy):
    waiting_on(source, placed_at=MONDAY - timedelta(days=5))  # the Wednesday before: 3 business days
    draft_supplier_followups(MONDAY)
    later = draft_supplier_followups(MONDAY + timedelta(days=3))  # Thursday: 6 business days, a new window
    assert len(later.chases) == 1 and Message.objects.count() == 2


def test_it_waits_while_the_supplier_spoke_recently(source, policy):
    waiting_on(source)
    factories.SupplierUpdateFactory(supplier=source.supplier, product=source.product, received_at=MONDAY)
    assert draft_supplier_followups(MONDAY + timedelta(days=1)).chases == []


def test_it_uses_the_supplier_s_own_silence_window(source, policy):
    source.supplier.silence_business_days = 15
    source.supplier.save()
    waiting_on(source)  # ten business days ago
    assert draft_supplier_followups(MONDAY).chases == []


def test_it_does_not_chase_a_supplier_with_nothing_waiting(source, policy):
    assert draft_supplier_followups(MONDAY).chases == []
    assert Message.objects.count() == 0


def test_it_reports_a_silent_supplier_it_cannot_email(source, policy):
    source.supplier.email = ""
    source.supplier.save()
    waiting_on(source)
    result = draft_supplier_followups(MONDAY)
    assert result.no_email == [source.supplier.pk] and Message.objects.count() == 0


def test_a_chase_is_approved_like_any_message(source, policy, owner, django_capture_on_commit_callbacks):
    waiting_on(source)
    message_id = draft_supplier_followups(MONDAY).chases[0]
    with django_capture_on_commit_callbacks() as callbacks:
        approve_message(message_id, owner)
    assert Message.objects.get(pk=message_id).status == "queued" and len(callbacks) == 1


def test_it_proposes_a_purchase_order_for_what_is_short(source, policy):
    waiting_on(source, quantity=5)
    other = factories.OrderLineFactory(product=source.product, quantity=2, state="backordered")
    assert other.order.status == "open"
    open_po = factories.PurchaseOrderFactory(supplier=source.supplier, status="sent")
    factories.PurchaseOrderLineFactory(purchase_order=open_po, product=source.product, quantity=4)
    draft_supplier_followups(MONDAY)
    proposal = PurchaseOrder.objects.get(status="proposed")
    line = proposal.lines.get()
    assert (line.product, line.quantity, str(line.unit_cost)) == (source.product, 3, "58.00")  # 5 + 2 - 0 free - 4


def test_it_keeps_one_proposal_per_supplier_and_follows_the_demand(source, policy):
    line = waiting_on(source, quantity=2)
    draft_supplier_followups(MONDAY)
    factories.OrderLineFactory(product=source.product, quantity=4, state="backordered")
    draft_supplier_followups(MONDAY)
    proposal = PurchaseOrder.objects.get(status="proposed")
    assert proposal.lines.get().quantity == 6
    line.state, line.allocated = "cancelled", 0
    line.save()
    PurchaseOrder.objects.filter(pk=proposal.pk)  # demand of 4 remains
    draft_supplier_followups(MONDAY)
    assert proposal.lines.get().quantity == 4
    with pytest.raises(IntegrityError):
        factories.PurchaseOrderFactory(supplier=source.supplier, status="proposed")


def test_it_withdraws_a_proposal_nobody_needs_any_more(source, policy):
    line = waiting_on(source, quantity=2)
    draft_supplier_followups(MONDAY)
    line.order.status, line.order.cancelled_at = "cancelled", MONDAY
    line.order.save()
    other = factories.OrderLineFactory(product=factories.ProductFactory(on_hand=0), quantity=1, state="backordered")
    factories.SupplierSourceFactory(supplier=source.supplier, product=other.product)
    draft_supplier_followups(MONDAY)
    proposal = PurchaseOrder.objects.get(status="proposed")
    assert [(ln.product, ln.quantity) for ln in proposal.lines.all()] == [(other.product, 1)]


def test_it_never_reorders_a_discontinued_product(source, policy):
    waiting_on(source, quantity=3)
    source.product.status = "discontinued"
    source.product.save()
    draft_supplier_followups(MONDAY)
    assert not PurchaseOrder.objects.filter(status="proposed").exists()


@pytest.mark.parametrize("status", ["discontinued", "variant_missing"])
def test_it_never_reorders_what_the_supplier_says_it_cannot_supply(source, policy, status):
    waiting_on(source, quantity=3)
    kept = factories.SupplierSourceFactory(supplier=source.supplier, product=factories.ProductFactory(on_hand=0))
    factories.OrderLineFactory(product=kept.product, quantity=2, state="backordered")
    draft_supplier_followups(MONDAY)  # both short: both proposed
    proposal = PurchaseOrder.objects.get(status="proposed")
    assert {ln.product for ln in proposal.lines.all()} == {source.product, kept.product}

    said = {"supplier": source.supplier, "product": source.product, "stock_status": status}
    factories.SupplierUpdateFactory(**said, received_at=MONDAY - timedelta(days=1))
    # a later silence or an update that says nothing about stock does not hide what they said
    factories.SupplierUpdateFactory(**{**said, "stock_status": "unknown"}, received_at=MONDAY)
    factories.SupplierUpdateFactory(**{**said, "kind": "silence", "stock_status": "unknown"}, received_at=MONDAY)
    draft_supplier_followups(MONDAY)

    assert [(ln.product, ln.quantity) for ln in proposal.lines.all()] == [(kept.product, 2)]


def test_it_reorders_again_once_the_supplier_says_it_is_back(source, policy):
    waiting_on(source, quantity=3)
    said = {"supplier": source.supplier, "product": source.product}
    factories.SupplierUpdateFactory(**said, stock_status="variant_missing", received_at=MONDAY - timedelta(days=2))
    draft_supplier_followups(MONDAY)
    assert not PurchaseOrder.objects.filter(status="proposed").exists()
    factories.SupplierUpdateFactory(**said, stock_status="out_of_stock", received_at=MONDAY - timedelta(days=1))
    draft_supplier_followups(MONDAY)
    assert PurchaseOrder.objects.get(status="proposed").lines.get().quantity == 3


def test_the_owner_approves_a_proposal_and_its_units_go_on_order(source, policy, owner):
    waiting_on(source, quantity=3)
    draft_supplier_followups(MONDAY)
    proposal = PurchaseOrder.objects.get(status="proposed")
    approve_purchase_order(proposal.pk, owner)
    proposal.refresh_from_db()
    source.product.refresh_from_db()
    assert proposal.status == "approved" and source.product.on_order == 3
    assert AuditEvent.objects.filter(action="purchase_order.approved", actor=owner).exists()
    with pytest.raises(IllegalTransition):
        approve_purchase_order(proposal.pk, owner)
    assert draft_supplier_followups(MONDAY).proposals == []  # the approved order covers the demand


def test_support_cannot_approve_a_proposal(source, policy, support):
    waiting_on(source)
    draft_supplier_followups(MONDAY)
    proposal = PurchaseOrder.objects.get(status="proposed")
    with pytest.raises(PermissionDenied):
        approve_purchase_order(proposal.pk, support)


def test_the_approve_view_is_the_owner_s_alone(source, policy, client, owner, support):
    waiting_on(source)
    draft_supplier_followups(MONDAY)
    proposal = PurchaseOrder.objects.get(status="proposed")
    url = reverse("packets:purchase-order-approve", args=[proposal.pk])
    client.force_login(support)
    assert client.post(url).status_code == 403
    client.force_login(owner)
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("packets:review-weekly")
    assert client.post(url).status_code == 409  # already approved
    proposal.refresh_from_db()
    assert proposal.status == "approved"
