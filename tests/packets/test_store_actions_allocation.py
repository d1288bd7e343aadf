"""When allocation gives a held order its units: our own Shopify hold is released, and
subscribed automations hear ``stock.allocated``.

The store is ``scripts/fake_shopify.py`` on loopback; tasks go through django-q2's broker and
worker loop (``tests.task_queue``), as the qcluster would run them.
"""

from __future__ import annotations

import pytest

from backorders.allocation import receive_stock
from backorders.models import OrderLine
from packets.models import Decision, OutboundDelivery, OutboundSubscription, StoreAction
from packets.store_actions import release_holds_for
from packets.store_actions.runner import run_store_action
from tests import factories
from tests.packets.store_fakes import approve, backorder_case, decision_for, shop  # noqa: F401
from tests.task_queue import queued_task_names, run_queued_tasks

pytestmark = pytest.mark.postgres

OTHER_APP_HOLD = {"id": "gid://shopify/FulfillmentHold/1", "handle": "other-app", "reason": "OTHER"}


def held_case(shop, owner, **order):  # noqa: F811
    """A waiting Shopify order on hold by our hold (and another app's), its tag added."""
    case = backorder_case(**order)
    external_id = case.order.external_id
    shop.order(external_id)["holds"].append(dict(OTHER_APP_HOLD))
    hold, tag = approve(decision_for(case, Decision.Action.WAIT, owner), owner)
    assert run_store_action(hold.pk) == "succeeded" and run_store_action(tag.pk) == "succeeded"
    hold.refresh_from_db()
    return case, hold


@pytest.mark.django_db(transaction=True)
def test_receiving_the_units_releases_our_hold_only_and_reports_the_allocation(shop, owner, policy):  # noqa: F811
    policy.revise(partial_shipment_default="hold")
    subscription = OutboundSubscription.objects.create(url="http://127.0.0.1:9/stock", event_types=["stock.allocated"])
    case, hold = held_case(shop, owner)
    run_queued_tasks()  # the hold and tag tasks the approval queued find nothing left to do
    assert shop.order("5000000000001")["holds"][-1]["id"] == hold.external_ref

    outcome = receive_stock(case.product_id, 2)

    assert [line.state for line in outcome.lines] == [OrderLine.State.ALLOCATED]
    release = StoreAction.objects.get(kind="release_hold")
    assert release.order_id == case.order_id and release.decision_id == hold.decision_id
    assert "packets.store_actions.runner.run_store_action" in queued_task_names()
    for task in run_queued_tasks():
        assert task["success"], task["result"]

    [call] = shop.applied("fulfillmentOrderReleaseHold")
    assert call["variables"] == {"id": "gid://shopify/FulfillmentOrder/5000000000001", "holdIds": [hold.external_ref]}
    assert shop.order("5000000000001")["holds"] == [OTHER_APP_HOLD], "the other app's hold stays"
    release.refresh_from_db()
    assert release.status == "succeeded" and release.external_ref == hold.external_ref

    [delivery] = OutboundDelivery.objects.filter(subscription=subscription)
    data = delivery.payload["data"]
    assert delivery.payload["type"] == "stock.allocated"
    assert (data["product_id"], data["on_hand"], data["allocated"]) == (case.product_id, 2, 2)
    assert data["lines"] == [
        {
            "line_id": case.order.lines.get().pk,
            "order_id": case.order_id,
            "quantity": 2,
            "allocated": 2,
            "state": "allocated",
        }
    ]

    receive_stock(case.product_id, 5)  # more units: nobody waits, nothing more to release
    assert StoreAction.objects.filter(kind="release_hold").count() == 1


@pytest.mark.django_db
def test_a_hold_stays_while_units_are_still_missing(shop, owner, policy):  # noqa: F811
    policy.revise(partial_shipment_default="hold")
    case, _hold = held_case(shop, owner)
    other = factories.OrderLineFactory(order=factories.OrderFactory(external_id="6000"), product=case.product)
    other.order.lines.update(state="backordered")

    receive_stock(case.product_id, 1, approve=True)  # one unit: not enough for the held order's two

    other.refresh_from_db()
    assert other.allocated == 1, "the unit went to the order it completes"
    assert not StoreAction.objects.filter(kind="release_hold").exists()
    assert shop.applied("fulfillmentOrderReleaseHold") == []


@pytest.mark.django_db
def test_a_hold_that_lands_after_the_units_is_released_at_once(shop, owner, policy):  # noqa: F811
    policy.revise(partial_shipment_default="hold")
    case = backorder_case()
    hold, _tag = approve(decision_for(case, Decision.Action.WAIT, owner), owner)
    receive_stock(case.product_id, 2)  # the units arrive before the hold reached Shopify
    assert not StoreAction.objects.filter(kind="release_hold").exists()

    assert run_store_action(hold.pk) == "succeeded"

    [release] = StoreAction.objects.filter(kind="release_hold")
    assert run_store_action(release.pk) == "succeeded"
    assert shop.order("5000000000001")["holds"] == []


@pytest.mark.django_db
def test_finding_the_held_orders_is_one_query_however_many_orders_got_units(django_assert_num_queries):
    orders = [factories.OrderFactory().pk for _ in range(40)]
    with django_assert_num_queries(1):
        assert release_holds_for(orders) == []
