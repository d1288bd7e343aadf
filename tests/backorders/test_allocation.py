"""Restocked units go to waiting lines fairly, once, with a trail; short supply waits for the owner."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db.models import F, Sum
from django.utils import timezone

from backorders.allocation import (
    AllocationError,
    annotate_available_to_promise,
    apply_stock_count,
    approve_allocation,
    available_to_promise,
    receive_stock,
    release_order,
    reserve_new_lines,
)
from backorders.models import Order, OrderLine, Product, StockAllocation, StorePolicy
from tests import factories

pytestmark = pytest.mark.django_db


def revise(policy, **changes) -> StorePolicy:
    """A new policy version. (``StorePolicy.revise`` cannot save a copy yet: its instance is not "adding".)"""
    fields = {
        f.name: getattr(policy, f.name)
        for f in StorePolicy._meta.concrete_fields
        if f.name not in {"id", "version", "created_at", "created_by"}
    }
    return StorePolicy.objects.create(**{**fields, **changes, "version": policy.version + 1})


def at(day: int) -> datetime:
    return datetime(2026, 3, 2, 9, 0).replace(tzinfo=timezone.get_current_timezone()) + timedelta(days=day)


def waiting(product, *, day, quantity=1, allocated=0, **order_fields):
    order = factories.OrderFactory(placed_at=at(day), **order_fields)
    return factories.BackorderedLineFactory(
        order=order,
        product=product,
        quantity=quantity,
        allocated=allocated,
        state="partial" if allocated else "backordered",
    )


def empty_product(**fields):
    return factories.ProductFactory(on_hand=0, allocated=0, **fields)


def given(line) -> int:
    line.refresh_from_db()
    return line.allocated


def assert_consistent(product):
    product.refresh_from_db()
    held = OrderLine.objects.filter(product=product).aggregate(n=Sum(F("allocated") - F("shipped")))["n"] or 0
    assert product.allocated == held
    assert 0 <= product.allocated <= product.on_hand


def test_it_serves_priority_classes_in_policy_order_and_first_come_within_each(policy):
    kettle = empty_product()
    standard_oldest = waiting(kettle, day=0)
    express = waiting(kettle, day=3, express=True)
    contract = waiting(kettle, day=4, priority_class="contract")
    vip = waiting(kettle, day=5, customer=factories.CustomerFactory(orders_count=policy.vip_min_orders))
    standard_newer = waiting(kettle, day=1)

    outcome = receive_stock(kettle.pk, 4, reference="PO-1", approve=True)

    assert [given(line) for line in (vip, contract, express, standard_oldest, standard_newer)] == [1, 1, 1, 1, 0]
    entries = outcome.record.plan["entries"]
    assert [entry["class"] for entry in entries] == ["vip", "contract", "express", "standard", "standard"]
    assert entries[-1]["outcome"] == "waits: no units left"
    assert "placed 2026-03-03" in entries[-1]["reason"]
    assert_consistent(kettle)


def test_it_follows_a_reordered_policy(policy):
    revise(policy, priority_classes=["express", "standard"])
    kettle = empty_product()
    vip_standard = waiting(kettle, day=0, customer=factories.CustomerFactory(orders_count=50))
    express = waiting(kettle, day=2, express=True)

    receive_stock(kettle.pk, 1, approve=True)

    assert (given(express), given(vip_standard)) == (1, 0)


def test_it_proposes_when_supply_is_short_and_units_are_on_hand_at_once(policy):
    kettle = empty_product()
    first, second = waiting(kettle, day=0, quantity=2), waiting(kettle, day=1, quantity=2)

    outcome = receive_stock(kettle.pk, 3, reference="PO-7")

    kettle.refresh_from_db()
    assert (kettle.on_hand, kettle.allocated) == (3, 0)
    assert outcome.proposal is not None and list(outcome) == []
    assert (outcome.record.free_units, outcome.record.demand_units, outcome.record.planned_units) == (3, 4, 3)
    assert available_to_promise(kettle.pk) == 0, "the free units belong to the waiting lines"
    assert (given(first), given(second)) == (0, 0)

    applied = approve_allocation(outcome.record.pk, user=None)

    assert (given(first), given(second)) == (2, 1)
    assert applied.record.status == "applied" and applied.record.applied_units == 3
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == "allocated" and first.allocated_at is not None
    assert second.state == "partial" and second.allocated_at is None
    assert_consistent(kettle)


def test_it_applies_at_once_when_supply_covers_everyone(policy):
    kettle = empty_product()
    line = waiting(kettle, day=0, quantity=2)

    outcome = receive_stock(kettle.pk, 5)

    assert outcome.record.status == "applied" and [changed.pk for changed in outcome] == [line.pk]
    assert given(line) == 2
    assert available_to_promise(kettle.pk) == 3
    assert_consistent(kettle)


def test_it_asks_even_when_covered_if_the_policy_says_so(policy):
    revise(policy, auto_apply_allocation=False)
    kettle = empty_product()
    line = waiting(kettle, day=0)

    outcome = receive_stock(kettle.pk, 5)

    assert outcome.proposal is not None and given(line) == 0
    assert available_to_promise(kettle.pk) == 4


def test_it_applies_a_proposal_once_only(owner):
    kettle = empty_product()
    waiting(kettle, day=0, quantity=3)
    proposal = receive_stock(kettle.pk, 2).record

    approve_allocation(proposal.pk, user=owner)
    with pytest.raises(AllocationError, match="applied"):
        approve_allocation(proposal.pk, user=owner)

    kettle.refresh_from_db()
    assert kettle.allocated == 2
    proposal.refresh_from_db()
    assert proposal.decided_by == owner


def test_it_rechecks_lines_when_a_proposal_is_applied_later(policy):
    kettle = empty_product()
    first, second, third = (waiting(kettle, day=d, quantity=2) for d in (0, 1, 2))
    proposal = receive_stock(kettle.pk, 4).record
    # Meanwhile the channel cancels the first line without going through release_order.
    OrderLine.objects.filter(pk=first.pk).update(state="cancelled", cancelled_at=timezone.now())

    outcome = approve_allocation(proposal.pk)

    assert outcome.record.note == f"Skipped: {first.order.number}: 0 of 2 still valid"
    assert [entry["line"] for entry in outcome.record.applied] == [second.pk]
    follow_up = StockAllocation.objects.get(product=kettle, kind="replan")
    assert follow_up.status == "applied", "the two units left cover the last waiting line"
    assert (given(first), given(second), given(third)) == (0, 2, 2)
    assert_consistent(kettle)


def test_a_new_receipt_supersedes_an_open_proposal(policy):
    kettle = empty_product()
    waiting(kettle, day=0, quantity=5)
    first = receive_stock(kettle.pk, 2).record

    second = receive_stock(kettle.pk, 1).record

    first.refresh_from_db()
    assert first.status == "superseded" and second.replaces == first
    assert (second.free_units, second.planned_units, second.status) == (3, 3, "proposed")
    with pytest.raises(AllocationError, match="superseded"):
        approve_allocation(first.pk)


def test_under_hold_an_order_gets_all_it_needs_or_keeps_its_place(policy):
    kettle = empty_product()
    held = waiting(kettle, day=0, quantity=3, partial_shipment="hold")
    later = waiting(kettle, day=1, quantity=1)

    outcome = receive_stock(kettle.pk, 2, approve=True)

    assert (given(held), given(later)) == (0, 1)
    assert outcome.record.plan["entries"][0]["outcome"] == "waits: held for the whole order (needs 3, 2 left)"
    receive_stock(kettle.pk, 2, approve=True)
    assert given(held) == 3


def test_the_policy_default_can_hold_and_an_order_can_override_it(policy):
    revise(policy, partial_shipment_default="hold")
    kettle = empty_product()
    held = waiting(kettle, day=0, quantity=2)
    ships_what_is_here = waiting(kettle, day=1, quantity=2, partial_shipment="ship_available")

    receive_stock(kettle.pk, 1, approve=True)

    assert (given(held), given(ships_what_is_here)) == (0, 1)


def test_a_new_sale_cannot_take_units_that_waiting_lines_are_entitled_to(policy):
    kettle = empty_product()
    older = waiting(kettle, day=0, quantity=2)
    receive_stock(kettle.pk, 3, reference="PO-8", approve=False)  # covers: applied; 1 unit left over
    assert given(older) == 2 and available_to_promise(kettle.pk) == 1
    waiting(kettle, day=1, quantity=4)  # now 4 more wait; the free unit belongs to them
    assert available_to_promise(kettle.pk) == 0

    new_order = factories.OrderFactory(placed_at=at(2))
    new_line = factories.OrderLineFactory(order=new_order, product=kettle, quantity=1)
    reserve_new_lines([new_line])

    assert (new_line.allocated, new_line.state) == (0, "backordered")
    assert new_line.backordered_at is not None


def test_a_new_sale_takes_what_is_free_at_once_and_lowers_the_number_for_every_channel(policy):
    mug = factories.ProductFactory(on_hand=5, allocated=0)
    shopify = factories.OrderLineFactory(order__channel="shopify", product=mug, quantity=2)
    reserve_new_lines([shopify])
    assert available_to_promise(mug.pk) == 3

    woo = factories.OrderLineFactory(order__channel="woocommerce", product=mug, quantity=4)
    assert available_to_promise(mug.pk) == 0, "a sale not yet reserved already counts against the number"
    reserve_new_lines([woo])

    assert (shopify.state, woo.state, woo.allocated) == ("allocated", "partial", 3)
    assert shopify.allocated_at is not None
    assert available_to_promise(mug.pk) == 0
    sale = StockAllocation.objects.filter(product=mug, kind="sale").order_by("id").last()
    assert sale.applied_units == 3 and sale.applied[0]["line"] == woo.pk
    assert_consistent(mug)


def test_a_hold_order_reserves_a_product_whole_or_not_at_all(policy):
    mug = factories.ProductFactory(on_hand=2, allocated=0)
    order = factories.OrderFactory(partial_shipment="hold")
    line = factories.OrderLineFactory(order=order, product=mug, quantity=3)

    reserve_new_lines([line])

    assert (line.allocated, line.state) == (0, "backordered")


def test_a_line_a_receipt_already_served_is_not_reserved_again(policy):
    kettle = empty_product()
    line = factories.OrderLineFactory(product=kettle, quantity=1)  # pending: intake has not reserved it
    receive_stock(kettle.pk, 1)
    assert given(line) == 1

    reserve_new_lines([line])

    assert_consistent(kettle)
    assert given(line) == 1


def test_a_stock_count_allocates_a_rise_and_a_duplicate_count_writes_nothing(policy):
    kettle = empty_product()
    line = waiting(kettle, day=0, quantity=2)

    first = apply_stock_count(kettle.pk, 4, reference="inventory_levels/update 1")
    again = apply_stock_count(kettle.pk, 4, reference="inventory_levels/update 1 (retry)")

    assert first.record.kind == "count" and first.record.status == "applied" and given(line) == 2
    assert again.record is None and list(again) == []
    assert StockAllocation.objects.filter(product=kettle).count() == 1


def test_a_count_below_the_allocation_keeps_it_whole_and_says_so(policy):
    kettle = factories.ProductFactory(on_hand=5, allocated=0)
    line = factories.OrderLineFactory(product=kettle, quantity=3)
    reserve_new_lines([line])

    outcome = apply_stock_count(kettle.pk, 1)

    kettle.refresh_from_db()
    assert (kettle.on_hand, kettle.allocated) == (3, 3)
    assert "kept at 3" in outcome.record.note


def test_it_refuses_impossible_requests_and_writes_nothing(policy):
    kettle = empty_product()
    with pytest.raises(AllocationError):
        receive_stock(kettle.pk, 0)
    with pytest.raises(AllocationError):
        apply_stock_count(kettle.pk, -1)
    with pytest.raises(AllocationError):
        receive_stock(Product.objects.order_by("-pk").first().pk + 1, 3)
    assert not StockAllocation.objects.exists()


def test_cancelling_an_order_gives_its_units_to_the_next_in_line(policy):
    kettle = empty_product()
    first = waiting(kettle, day=0, quantity=2)
    second = waiting(kettle, day=1, quantity=2)
    receive_stock(kettle.pk, 2, approve=True)
    assert (given(first), given(second)) == (2, 0)

    records = release_order(first.order_id)

    assert [record.kind for record in records] == ["release", "replan"]
    assert records[0].applied_units == -2 and records[1].status == "applied"
    assert (given(first), given(second)) == (0, 2)
    first.order.refresh_from_db()
    assert first.order.status == "cancelled" and first.order.cancelled_at is not None
    assert release_order(first.order_id) == [], "a second cancellation changes nothing"
    assert_consistent(kettle)


def test_a_fulfilled_order_cannot_be_released(policy):
    line = factories.OrderLineFactory(order__status=Order.Status.FULFILLED)
    with pytest.raises(AllocationError, match="fulfilled"):
        release_order(line.order_id)


def test_lists_show_available_to_promise_in_one_query(policy, django_assert_num_queries):
    products = [factories.ProductFactory(on_hand=5, allocated=1) for _ in range(3)]
    waiting(products[0], day=0, quantity=2)

    # one query: products with the waiting-demand subquery
    with django_assert_num_queries(1):
        numbers = {p.pk: p.available_to_promise for p in annotate_available_to_promise(Product.objects.all())}

    assert numbers == {products[0].pk: 2, products[1].pk: 4, products[2].pk: 4}
