"""What the customer is told when the item will not come back, when the wait is long, and when part
of the order ships while part waits (the store playbooks' rules for each)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from backorders.models import OrderLine, StorePolicy
from packets.models import Message
from packets.notify import drafting
from packets.notify.cadence import draft_due_messages
from packets.rules import facts as f
from packets.rules.customer import CustomerRisk
from packets.rules.risk import RiskContext, assess_risk, recommend
from suppliers.eta import customer_range
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday
CALM = CustomerRisk(urgency="low", repeat_contact=0, intents=[], sentiment=None)


def waiting_line(**line):
    order = factories.OrderFactory(placed_at=T0, customer=factories.CustomerFactory(name="Ann Example"))
    return factories.OrderLineFactory(order=order, state=OrderLine.State.BACKORDERED, backordered_at=T0, **line)


# --------------------------------------------------------------------------- discontinued


def test_a_discontinued_item_gets_one_plain_message_with_the_options_and_no_promised_date(policy):
    with time_machine.travel(T0, tick=False) as clock:
        line = waiting_line()
        draft_due_messages()  # the confirmation, while it was still a backorder
        line.product.status = "discontinued"
        line.product.save()
        clock.move_to(T0 + timedelta(days=3))
        draft_due_messages()
        draft_due_messages()  # and nothing more on the next sweep
    told = dict(Message.objects.filter(order_line=line).values_list("step", "status"))
    assert told == {"confirmation": "cancelled", drafting.DISCONTINUED: "draft"}
    message = Message.objects.get(order_line=line, step=drafting.DISCONTINUED)
    body = message.body
    assert "will not come back" in body
    assert "Cancel this item for a full refund" in body and "/o/" in body
    assert "similar item" in body
    assert "supplier gives us a date" not in body and "We expect" not in body and "We will write" not in body
    assert message.guideline_issues == [] and message.eta_told == ""


def test_an_update_promising_a_date_for_a_discontinued_item_cannot_be_approved(policy, owner):
    from django.core.exceptions import ValidationError

    from packets.notify.messaging import approve_message

    with time_machine.travel(T0, tick=False):
        line = waiting_line()
        draft_due_messages()
        confirmation = Message.objects.get(order_line=line)
        line.product.status = "discontinued"  # learned before the next sweep cancels the draft
        line.product.save()
        with pytest.raises(ValidationError, match="will not come back"):
            approve_message(confirmation.pk, owner)


@pytest.mark.parametrize("active", [False, True])
@pytest.mark.parametrize("replacement", [False, True])
def test_a_discontinued_stockout_never_recommends_waiting(active, replacement):
    ctx = RiskContext(
        kind=f.STOCKOUT,
        category=f.DISCONTINUED,
        now=T0,
        customer=CALM,
        evidence_strength=f.CONFIRMED,  # the supplier said so in writing
        waiting_units=3,
        waiting_orders=2,
        product_active=active,
        has_replacement=replacement,
    )
    action, why = recommend(ctx)
    assert action != f.WAIT
    if not active:
        assert action == (f.OFFER_REPLACEMENT if replacement else f.CANCEL)
        assert "will not come back" in why


# --------------------------------------------------------------------------- a long wait


def _quote_far_out(line, days: int):
    source = factories.SupplierSourceFactory(product=line.product, lead_time_days=6)
    po = factories.PurchaseOrderFactory(supplier=source.supplier, quoted_at=(T0 + timedelta(days=days)).date())
    factories.PurchaseOrderLineFactory(purchase_order=po, product=line.product)


def test_an_estimate_past_the_policy_limit_offers_cancellation_up_front_and_goes_to_the_owner(policy):
    with time_machine.travel(T0, tick=False):
        line = waiting_line()
        _quote_far_out(line, 45)
        eta = customer_range(line.product, policy=policy)
        assert (eta.end - T0.date()).days > policy.long_eta_days
        draft_due_messages()
    message = Message.objects.get(order_line=line)
    assert message.needs_owner
    first_lines = message.body.split("\n\n")[1]  # the paragraph after the greeting
    assert "That is a long wait" in first_lines and "cancel this item now for a full refund" in first_lines
    assert "/o/" in first_lines and message.guideline_issues == []


def test_an_estimate_within_the_policy_limit_is_a_normal_update(policy):
    StorePolicy.objects.current().revise(long_eta_days=90)
    with time_machine.travel(T0, tick=False):
        line = waiting_line()
        _quote_far_out(line, 45)
        draft_due_messages()
    message = Message.objects.get(order_line=line)
    assert not message.needs_owner and "long wait" not in message.body


def test_an_estimate_past_the_policy_limit_puts_the_case_before_the_owner():
    ctx = RiskContext(
        kind=f.BACKORDER,
        category=f.SUPPLIER_OUT_OF_STOCK,
        now=T0,
        customer=CALM,
        evidence_strength=f.CONFIRMED,
        long_eta_days_out=45,
    )
    assert assess_risk(ctx, f.PolicyFacts()) == f.OWNER_ONLY
    assert any("45 days out" in reason for reason in ctx.reasons)
    action, why = recommend(ctx)
    assert action == f.MESSAGE_CUSTOMER and "offer cancellation up front" in why


# --------------------------------------------------------------------------- partial shipments


def _two_line_order():
    order = factories.OrderFactory(placed_at=T0, customer=factories.CustomerFactory(name="Ann Example"))
    first = factories.OrderLineFactory(
        order=order,
        title="Linen Throw",
        quantity=2,
        state=OrderLine.State.BACKORDERED,
        backordered_at=T0,
    )
    second = factories.OrderLineFactory(
        order=order,
        title="Stoneware Mug",
        quantity=1,
        state=OrderLine.State.BACKORDERED,
        backordered_at=T0,
    )
    return order, first, second


def _ship(line, *, scanned: bool = True, at=None):
    at = at or timezone.now()
    OrderLine.objects.filter(pk=line.pk).update(
        state=OrderLine.State.SHIPPED, allocated=line.quantity, shipped=line.quantity, shipped_at=at
    )
    factories.ShipmentFactory(
        order=line.order,
        carrier="UPS",
        status="in_transit" if scanned else "label_created",
        first_scan_at=at if scanned else None,
        last_scan_at=at if scanned else None,
    )


def test_a_partial_shipment_tells_which_part_ships_and_which_waits(policy):
    with time_machine.travel(T0, tick=False) as clock:
        order, first, second = _two_line_order()
        draft_due_messages()
        clock.move_to(T0 + timedelta(days=1))
        _ship(first)
        draft_due_messages()
        draft_due_messages()
    part = Message.objects.get(order=order, step=drafting.PART_SHIPPED)
    ships, waits = part.body.split("Ships now:")[1].split("Still waiting:")
    assert "Linen Throw (quantity 2)" in ships and "Stoneware Mug" not in ships
    assert "Stoneware Mug (quantity 1)" in waits and "Linen Throw" not in waits
    assert "UPS" in ships and "/o/" in part.body and part.guideline_issues == []
    # one message tells it: no separate "on its way" for the part that shipped
    assert not Message.objects.filter(order=order, step=drafting.SHIPPED).exists()

    with time_machine.travel(T0 + timedelta(days=5), tick=False):
        _ship(OrderLine.objects.get(pk=second.pk))
        draft_due_messages()
    shipped = Message.objects.filter(order=order, step=drafting.SHIPPED)
    assert [m.order_line_id for m in shipped] == [second.pk]  # the rest, told once; the first part not again


def test_a_partial_shipment_with_a_label_alone_is_not_told_as_shipped(policy):
    with time_machine.travel(T0, tick=False):
        order, first, _ = _two_line_order()
        _ship(first, scanned=False)
        draft_due_messages()
    assert not Message.objects.filter(order=order, step__in=[drafting.PART_SHIPPED, drafting.SHIPPED]).exists()


def test_the_sms_of_a_partial_shipment_names_both_parts(policy, settings):
    line = waiting_line(title="Stoneware Mug")
    draft = drafting.render(
        drafting.PART_SHIPPED,
        line=line,
        channel="sms",
        policy=policy,
        today=date(2026, 3, 3),
        link=f"{settings.SITE_URL}/o/token/",
        ships=[("Linen Throw", 2)],
        waits=[("Stoneware Mug", 1, "between March 16 and March 20")],
    )
    assert "ships now: Linen Throw x2" in draft.body and "Still waiting: Stoneware Mug x1" in draft.body
    assert draft.issues == []
