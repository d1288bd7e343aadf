"""A refund that belongs to a cancel goes out only after the cancel succeeded.

The stores are the loopback stand-ins of ``tests/packets/store_fakes.py``: WooCommerce REST v3
(cancel and refund are two calls) and ``scripts/fake_shopify.py`` (``orderCancel`` carries the
refund in the one call). Each refuses the cancel here, as a real store does for an order it will
not cancel.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from packets.models import AuditEvent, Decision, StoreAction
from packets.store_actions import retry_action
from packets.store_actions.runner import retry_due_actions, run_store_action
from tests.packets.store_fakes import approve, backorder_case, decision_for, shop, woo  # noqa: F401
from tests.task_queue import queued_task_names

pytestmark = pytest.mark.postgres

RUN = "packets.store_actions.runner.run_store_action"


def woo_cancel(owner) -> tuple[StoreAction, StoreAction]:
    case = backorder_case("woocommerce", external_id="727", number="#727")
    cancel, refund = approve(decision_for(case, Decision.Action.CANCEL, owner), owner)
    return cancel, refund


@pytest.mark.django_db(transaction=True)
def test_it_records_the_cancel_a_refund_waits_on_and_enqueues_only_the_cancel(woo, owner):  # noqa: F811
    cancel, refund = woo_cancel(owner)

    assert refund.after_id == cancel.pk and cancel.after_id is None
    assert queued_task_names() == [RUN]  # the cancel; the refund is enqueued by its success


@pytest.mark.django_db
def test_it_never_refunds_when_woocommerce_refuses_the_cancel(woo, owner, owner_client):  # noqa: F811
    cancel, refund = woo_cancel(owner)
    woo.fail_next("PUT", "400")

    assert run_store_action(cancel.pk) == "failed"
    assert run_store_action(refund.pk) == "waiting: cancel the order is failed"
    assert run_store_action(refund.pk) == "waiting: cancel the order is failed"  # a redelivery, too

    refund.refresh_from_db()
    assert refund.status == "pending" and refund.attempts == 0 and refund.request == {}
    assert woo.created("POST") == [] and woo.refunds == {}
    assert [r["method"] for r in woo.requests] == ["PUT"]
    held = AuditEvent.objects.get(action="store_action.held")
    assert held.object_id == str(refund.pk)
    assert "Refund not sent: Cancel the order on WooCommerce failed" in held.summary

    page = owner_client.get(reverse("packets:store-action-panel", args=[cancel.case_id])).content.decode()
    assert "Invalid order status: the order cannot be cancelled." in page
    assert "Not sent: it waits on “Cancel the order”, which failed." in page
    assert 'hx-trigger="every 3s"' not in page  # nothing left that changes by itself


@pytest.mark.django_db
def test_it_does_not_hand_a_held_refund_back_to_the_queue(woo, owner):  # noqa: F811
    cancel, refund = woo_cancel(owner)
    woo.fail_next("PUT", "400")
    run_store_action(cancel.pk)
    StoreAction.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert retry_due_actions() == 0


@pytest.mark.django_db
def test_it_waits_while_the_cancel_is_running_in_another_worker(woo, owner):  # noqa: F811
    cancel, refund = woo_cancel(owner)
    # another worker has claimed the cancel and is mid-call
    StoreAction.objects.filter(pk=cancel.pk).update(status="running", started_at=timezone.now(), attempts=1)

    assert run_store_action(refund.pk) == "waiting: cancel the order is running"
    assert woo.requests == []


@pytest.mark.django_db(transaction=True)
def test_it_sends_the_refund_once_the_cancel_run_again_succeeds(woo, owner):  # noqa: F811
    cancel, refund = woo_cancel(owner)
    woo.fail_next("PUT", "400")
    run_store_action(cancel.pk)
    assert run_store_action(refund.pk).startswith("waiting")

    retry_action(cancel.pk, owner)
    assert run_store_action(cancel.pk) == "succeeded"  # read back (not cancelled), then sent
    # the cancel's success put the refund on the queue
    assert queued_task_names().count(RUN) == 3  # first cancel, cancel run again, the refund
    assert run_store_action(refund.pk) == "succeeded"

    assert [r["method"] for r in woo.created("PUT") + woo.created("POST")] == ["PUT", "POST"]
    assert len(woo.refunds["727"]) == 1


@pytest.mark.django_db
def test_it_sends_the_refund_after_a_cancel_whose_answer_was_lost(woo, owner):  # noqa: F811
    cancel, refund = woo_cancel(owner)
    woo.fail_next("PUT", "hang")  # WooCommerce cancels; the answer never arrives

    assert run_store_action(cancel.pk) == "needs_check"
    assert run_store_action(refund.pk).startswith("waiting: cancel the order is outcome unknown")
    assert run_store_action(cancel.pk) == "succeeded after reading the store back"
    assert run_store_action(refund.pk) == "succeeded"
    assert len(woo.refunds["727"]) == 1


@pytest.mark.django_db
def test_it_never_refunds_when_shopify_refuses_the_cancel(shop, owner, owner_client):  # noqa: F811
    case = backorder_case()
    shop.fail_next("orderCancel", "user_error", message="Order cannot be cancelled.", code="INVALID")
    [cancel] = approve(decision_for(case, Decision.Action.CANCEL, owner), owner)

    assert run_store_action(cancel.pk) == "failed"

    # Shopify refunds inside orderCancel: one action, so a refused cancel moves no money
    assert cancel.plan["refund_amount"] == "84.20" and StoreAction.objects.filter(kind="refund").count() == 0
    assert shop.applied("refundCreate") == [] and shop.received("refundCreate") == []
    assert not shop.order("5000000000001").get("refunds")
    page = owner_client.get(reverse("packets:store-action-panel", args=[case.pk])).content.decode()
    assert "Order cannot be cancelled." in page


@pytest.mark.django_db(transaction=True)
def test_it_never_refunds_before_the_cancel_when_workers_race(woo, owner):  # noqa: F811
    cancel, refund = woo_cancel(owner)
    outcomes: list[str] = []
    cancel_done = threading.Event()

    def eager_worker():
        # a second worker handed the refund again and again (redeliveries, the scheduled retry)
        try:
            while not cancel_done.is_set():
                outcomes.append(run_store_action(refund.pk))
            outcomes.append(run_store_action(refund.pk))
        finally:
            connection.close()

    racer = threading.Thread(target=eager_worker)
    racer.start()
    try:
        assert run_store_action(cancel.pk) == "succeeded"
    finally:
        cancel_done.set()
        racer.join(timeout=30)

    assert outcomes.count("succeeded") == 1 and all(
        o == "succeeded" or o.startswith(("waiting:", "nothing to do", "another worker")) for o in outcomes
    )
    applied = [r["method"] for r in woo.requests if r["applied"]]
    assert applied == ["PUT", "POST"]  # the refund only ever after the cancel
    assert len(woo.refunds["727"]) == 1
