"""Store actions on Shopify: an approved cancel reaches the store once, whatever goes wrong.

The store is ``scripts/fake_shopify.py`` on loopback, answering as Shopify's Admin GraphQL
documentation shows: THROTTLED with HTTP 200, 429 with Retry-After, 500, user errors, and a call
the store takes and then never answers.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from packets.models import AuditEvent, Decision, OutboundDelivery, OutboundSubscription, StoreAction
from packets.store_actions.runner import retry_due_actions, run_store_action
from tests.packets.store_fakes import approve, backorder_case, decision_for, shop  # noqa: F401
from tests.task_queue import queued_task_names, run_queued_tasks

pytestmark = pytest.mark.postgres

ORDER_GID = "gid://shopify/Order/5000000000001"


def approved_cancel(owner, **case_fields) -> StoreAction:
    case = backorder_case(**case_fields)
    [action] = approve(decision_for(case, Decision.Action.CANCEL, owner), owner)
    return action


@pytest.mark.django_db(transaction=True)
def test_it_cancels_on_shopify_exactly_once_when_the_owner_clicks_approve_twice(shop, owner):  # noqa: F811
    case = backorder_case()
    decision = decision_for(case, Decision.Action.CANCEL, owner)

    first = approve(decision, owner)
    second = approve(decision, owner)  # the second click finds the action the first one made

    assert [a.pk for a in first] == [a.pk for a in second]
    assert queued_task_names() == ["packets.store_actions.runner.run_store_action"]
    [task] = run_queued_tasks()
    assert task["success"], task["result"]
    [call] = shop.applied("orderCancel")
    assert call["variables"] == {
        "orderId": ORDER_GID,
        "reason": "INVENTORY",
        "refundMethod": {"originalPaymentMethodsRefund": True},
        "restock": False,
        "notifyCustomer": True,
        "staffNote": f"Backorder Desk case {case.pk}",
    }
    action = StoreAction.objects.get()
    assert action.status == "succeeded" and action.attempts == 1
    assert "refund:" not in action.request["query"]  # never the deprecated refund argument
    assert action.response["job"]["data"]["job"]["done"] is True
    assert action.external_ref.startswith("gid://shopify/Job/")
    assert list(
        AuditEvent.objects.filter(case=case, action__startswith="store_action.").values_list("action", flat=True)
    ) == [
        "store_action.succeeded",
        "store_action.running",
        "store_action.planned",
    ]


@pytest.mark.django_db(transaction=True)
def test_it_lets_one_of_two_workers_run_an_action(shop, owner):  # noqa: F811
    action = approved_cancel(owner)
    outcomes = []
    barrier = threading.Barrier(2)

    def worker():
        barrier.wait()
        try:
            outcomes.append(run_store_action(action.pk))
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(shop.received("orderCancel")) == 1
    assert sorted(outcomes)[0] in {"another worker is running it now", "nothing to do: the action is succeeded"}
    assert StoreAction.objects.get().status == "succeeded"


@pytest.mark.django_db
def test_it_reads_the_order_back_when_the_worker_died_after_shopify_took_the_cancel(shop, owner):  # noqa: F811
    action = approved_cancel(owner)
    # The first worker claimed the row and sent orderCancel; Shopify took it; then the worker was
    # killed before it could record anything. This is the state it leaves:
    from packets.store_actions import shopify

    shopify.cancel(action)
    started = timezone.now() - timedelta(minutes=4)  # past the queue's 120 s timeout
    StoreAction.objects.filter(pk=action.pk).update(status="running", started_at=started, attempts=1)

    # django-q2 delivers the task again
    assert run_store_action(action.pk) == "succeeded after reading the store back"

    assert len(shop.received("orderCancel")) == 1
    action.refresh_from_db()
    assert action.status == "succeeded" and action.attempts == 2
    assert AuditEvent.objects.filter(action="store_action.redelivered", case=action.case).exists()


@pytest.mark.django_db
def test_it_leaves_an_action_alone_while_another_worker_runs_it(shop, owner):  # noqa: F811
    action = approved_cancel(owner)
    StoreAction.objects.filter(pk=action.pk).update(status="running", started_at=timezone.now(), attempts=1)
    assert run_store_action(action.pk) == "another worker is running it now"
    assert shop.received("orderCancel") == []


@pytest.mark.django_db
def test_it_parks_a_cancel_whose_answer_never_came_and_never_sends_it_twice(shop, owner):  # noqa: F811
    action = approved_cancel(owner)
    shop.fail_next("orderCancel", "hang")  # Shopify takes the call, the answer never comes

    assert run_store_action(action.pk) == "needs_check"
    action.refresh_from_db()
    assert action.status == "needs_check" and "did not answer in time" in action.error
    assert action.request["variables"]["orderId"] == ORDER_GID  # written before the call went out

    assert run_store_action(action.pk) == "succeeded after reading the store back"
    assert len(shop.received("orderCancel")) == 1
    action.refresh_from_db()
    assert action.status == "succeeded" and action.response["order"]["cancelledAt"]


@pytest.mark.django_db
def test_it_sends_again_when_the_read_back_shows_the_500_left_nothing(shop, owner):  # noqa: F811
    action = approved_cancel(owner)
    shop.fail_next("orderCancel", "500")

    assert run_store_action(action.pk) == "needs_check"
    assert run_store_action(action.pk) == "succeeded"

    assert len(shop.received("orderCancel")) == 2 and len(shop.applied("orderCancel")) == 1


@pytest.mark.django_db
def test_it_counts_an_order_already_cancelled_on_shopify_as_done(shop, owner):  # noqa: F811
    action = approved_cancel(owner)
    shop.order("5000000000001")["cancelledAt"] = "2026-01-14T09:00:00Z"  # someone cancelled it in the admin

    assert run_store_action(action.pk) == "succeeded"
    action.refresh_from_db()
    assert shop.applied("orderCancel") == [] and "already cancelled" in AuditEvent.objects.first().summary


@pytest.mark.django_db
def test_it_waits_as_long_as_shopify_asks_when_throttled(shop, owner, settings):  # noqa: F811
    settings.STORE_ACTION_RETRY_BASE_SECONDS = 1
    action = approved_cancel(owner)
    shop.fail_next("orderCancel", "429", retry_after=120)
    before = timezone.now()

    assert run_store_action(action.pk) == "pending"

    action.refresh_from_db()
    assert action.status == "pending" and action.next_attempt_at >= before + timedelta(seconds=120)
    assert "429" in action.error and shop.applied("orderCancel") == []


@pytest.mark.django_db
def test_it_retries_a_throttled_cancel_from_the_cost_report(shop, owner, settings, django_capture_on_commit_callbacks):  # noqa: F811
    settings.STORE_ACTION_RETRY_BASE_SECONDS = 1
    action = approved_cancel(owner)
    shop.fail_next("orderCancel", "throttled")  # HTTP 200 with errors[].extensions.code THROTTLED

    assert run_store_action(action.pk) == "pending"
    action.refresh_from_db()
    assert "Throttled (THROTTLED)" in action.error
    assert action.next_attempt_at is not None

    StoreAction.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert retry_due_actions() == 1
    assert len(callbacks) == 1
    assert run_store_action(action.pk) == "succeeded"
    assert len(shop.applied("orderCancel")) == 1


@pytest.mark.django_db
def test_it_shows_shopifys_own_message_when_it_refuses(shop, owner):  # noqa: F811
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/hook", event_types=["store_action.failed"])
    action = approved_cancel(owner)
    shop.fail_next("orderCancel", "user_error", message="Order cannot be cancelled: it has fulfillments")

    assert run_store_action(action.pk) == "failed"

    action.refresh_from_db()
    assert action.status == "failed"
    assert action.error == "id: Order cannot be cancelled: it has fulfillments (INVALID)"
    event = AuditEvent.objects.get(action="store_action.failed")
    assert event.case == action.case and "it has fulfillments" in event.summary
    delivery = OutboundDelivery.objects.get()
    assert delivery.event_type == "store_action.failed" and delivery.payload["data"]["error"] == action.error


@pytest.mark.django_db
def test_it_fails_plainly_when_the_token_lacks_access(shop, owner):  # noqa: F811
    action = approved_cancel(owner)
    shop.fail_next("orderCancel", "access_denied")
    assert run_store_action(action.pk) == "failed"
    action.refresh_from_db()
    assert "Required access: `write_orders` access scope. (ACCESS_DENIED)" in action.error


@pytest.mark.django_db
def test_it_says_which_settings_are_missing(owner, settings):
    settings.SHOPIFY_SHOP_URL = ""
    action = approved_cancel(owner)
    assert run_store_action(action.pk) == "failed"
    action.refresh_from_db()
    assert "set SHOPIFY_SHOP_URL and SHOPIFY_ADMIN_TOKEN" in action.error


@pytest.mark.django_db
def test_it_gives_up_on_an_unknown_outcome_and_says_to_check_the_store(shop, owner, settings):  # noqa: F811
    settings.STORE_ACTION_MAX_ATTEMPTS = 1
    action = approved_cancel(owner)
    shop.fail_next("orderCancel", "500")
    assert run_store_action(action.pk) == "failed"
    action.refresh_from_db()
    assert "Gave up after 1 attempts" in action.error and "check the order in the store" in action.error


@pytest.mark.django_db
def test_it_refunds_to_store_credit_and_keeps_shopify_quiet_when_our_message_goes_out(shop, owner, policy):  # noqa: F811
    from tests import factories

    policy.revise(refund_method="store_credit")
    case = backorder_case()
    decision = decision_for(case, Decision.Action.CANCEL, owner)
    factories.MessageFactory(case=case, status="queued", approved_at=timezone.now())
    [action] = approve(decision, owner)

    run_store_action(action.pk)

    [call] = shop.applied("orderCancel")
    assert call["variables"]["refundMethod"] == {"storeCreditRefund": {}}
    assert call["variables"]["notifyCustomer"] is False


# --------------------------------------------------------------------------- refunds


@pytest.mark.django_db
def test_it_refunds_the_unfulfilled_units_with_an_idempotency_key(shop, owner):  # noqa: F811
    case = backorder_case()
    [action] = approve(decision_for(case, Decision.Action.REFUND, owner), owner)

    assert run_store_action(action.pk) == "succeeded"

    [call] = shop.applied("refundCreate")
    action.refresh_from_db()
    assert f'@idempotent(key: "{action.idempotency_key}")' in action.request["query"]
    refund_input = call["variables"]["input"]
    assert refund_input["refundLineItems"] == [
        {"lineItemId": "gid://shopify/LineItem/111", "quantity": 2, "restockType": "CANCEL"}
    ]
    assert refund_input["transactions"] == [
        {
            "orderId": ORDER_GID,
            "parentId": "gid://shopify/OrderTransaction/50000000000011",
            "gateway": "bogus",
            "kind": "REFUND",
            "amount": "40.00",
        }
    ]
    assert action.external_ref.startswith("gid://shopify/Refund/") and action.amount == 40


@pytest.mark.django_db
def test_it_never_refunds_twice_when_the_refund_answer_was_lost(shop, owner):  # noqa: F811
    case = backorder_case()
    [action] = approve(decision_for(case, Decision.Action.REFUND, owner), owner)
    shop.fail_next("refundCreate", "hang")

    assert run_store_action(action.pk) == "needs_check"
    assert run_store_action(action.pk) == "succeeded after reading the store back"

    assert len(shop.order("5000000000001")["refunds"]) == 1
    assert len(shop.received("refundCreate")) == 1


@pytest.mark.django_db
def test_it_retries_a_refund_with_the_same_key(shop, owner):  # noqa: F811
    case = backorder_case()
    [action] = approve(decision_for(case, Decision.Action.REFUND, owner), owner)
    shop.fail_next("refundCreate", "throttled")

    assert run_store_action(action.pk) == "pending"
    assert run_store_action(action.pk) == "succeeded"

    first, second = shop.received("refundCreate")
    assert first["variables"] == second["variables"]
    assert len(shop.order("5000000000001")["refunds"]) == 1
    action.refresh_from_db()
    assert f'key: "{action.idempotency_key}"' in action.request["query"]


# --------------------------------------------------------------------------- holds and tags


@pytest.mark.django_db
def test_it_holds_and_tags_a_waiting_order_and_releases_only_its_own_hold(shop, owner, support, policy):  # noqa: F811
    from packets.store_actions import release_holds

    policy.revise(partial_shipment_default="hold")
    case = backorder_case()
    other_app_hold = {"id": "gid://shopify/FulfillmentHold/1", "handle": "other-app", "reason": "OTHER"}
    shop.order("5000000000001")["holds"].append(other_app_hold)
    hold, tag = approve(decision_for(case, Decision.Action.WAIT, owner), support)  # staff may approve these

    assert [hold.kind, tag.kind] == ["hold", "tag"]
    assert run_store_action(hold.pk) == "succeeded" and run_store_action(tag.pk) == "succeeded"
    [call] = shop.applied("fulfillmentOrderHold")
    assert call["variables"]["hold"]["reason"] == "INVENTORY_OUT_OF_STOCK"
    assert call["variables"]["hold"]["handle"] == f"backorder-desk-case-{case.pk}"
    assert shop.order("5000000000001")["tags"] == ["backorder"]

    assert release_holds(case.order_id) == []  # the units are still missing
    case.order.lines.update(allocated=2, state="allocated")
    [release] = release_holds(case.order_id)
    assert run_store_action(release.pk) == "succeeded"

    [call] = shop.applied("fulfillmentOrderReleaseHold")
    hold.refresh_from_db()
    assert call["variables"]["holdIds"] == [hold.external_ref]
    assert shop.order("5000000000001")["holds"] == [other_app_hold]


@pytest.mark.django_db
def test_it_counts_a_duplicate_hold_handle_on_retry_as_success(shop, owner, policy):  # noqa: F811
    policy.revise(partial_shipment_default="hold")
    case = backorder_case()
    hold, _tag = approve(decision_for(case, Decision.Action.WAIT, owner), owner)
    shop.fail_next("fulfillmentOrderHold", "hang")

    assert run_store_action(hold.pk) == "needs_check"
    assert run_store_action(hold.pk) == "succeeded after reading the store back"
    hold.refresh_from_db()
    assert hold.external_ref == shop.order("5000000000001")["holds"][0]["id"]


# --------------------------------------------------------------------------- who may approve


@pytest.mark.django_db
def test_it_refuses_a_cancel_approved_by_support(support):
    case = backorder_case()
    with pytest.raises(PermissionDenied, match="Only an owner can approve this: Will cancel order #1042"):
        approve(decision_for(case, Decision.Action.CANCEL, support), support)
    assert not StoreAction.objects.exists()
    assert Decision.objects.get().status == "proposed"  # the approval rolled back with it


@pytest.mark.django_db
def test_it_runs_hold_and_tag_on_a_standing_approval_only(outsider, policy):
    case = backorder_case()
    assert approve(decision_for(case, Decision.Action.WAIT, outsider), outsider) == []
    assert AuditEvent.objects.filter(action="store_action.not_covered").exists()

    policy.revise(standing_approvals=["store_tag"])
    case2 = backorder_case(external_id="5000000000002", number="#1043")
    [tag] = approve(decision_for(case2, Decision.Action.WAIT, outsider), outsider)
    assert tag.kind == "tag"


@pytest.mark.django_db
def test_it_does_nothing_on_a_store_for_a_csv_order(owner):
    case = backorder_case(channel="csv")
    assert approve(decision_for(case, Decision.Action.CANCEL, owner), owner) == []
