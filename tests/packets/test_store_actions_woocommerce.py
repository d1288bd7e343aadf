"""Store actions on WooCommerce: a refund retried after a timeout is never created twice.

The store is a WooCommerce REST v3 stand-in on loopback (``tests/packets/store_fakes.py``) that
keeps orders and refunds, checks basic auth, and answers errors as ``{"code", "message", "data"}``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from packets.models import Decision, StoreAction
from packets.store_actions import retry_action
from packets.store_actions.runner import run_store_action
from tests.packets.store_fakes import approve, backorder_case, decision_for, woo  # noqa: F401

pytestmark = pytest.mark.postgres


def woo_case():
    return backorder_case("woocommerce", external_id="727", number="#727")


@pytest.mark.django_db
def test_it_cancels_and_refunds_a_woocommerce_order(woo, owner):  # noqa: F811
    cancel, refund = approve(decision_for(woo_case(), Decision.Action.CANCEL, owner), owner)

    assert run_store_action(cancel.pk) == "succeeded"
    assert run_store_action(refund.pk) == "succeeded"

    [put] = woo.created("PUT")
    assert put["path"] == "/wp-json/wc/v3/orders/727" and put["body"] == {"status": "cancelled"}
    [post] = woo.created("POST")
    refund.refresh_from_db()
    assert post["body"] == {
        "amount": "84.20",
        "reason": refund.plan["reason"],
        "api_refund": True,
        "line_items": [{"id": 111, "quantity": 2, "refund_total": "40.00"}],
        "meta_data": [{"key": "backorder_desk_action", "value": refund.idempotency_key}],
    }
    assert refund.external_ref == str(woo.refunds["727"][0]["id"])


@pytest.mark.django_db
def test_it_never_creates_a_refund_twice_when_the_answer_timed_out(woo, owner):  # noqa: F811
    [refund] = approve(decision_for(woo_case(), Decision.Action.REFUND, owner), owner)
    woo.fail_next("POST", "hang")  # WooCommerce makes the refund; the answer never arrives

    assert run_store_action(refund.pk) == "needs_check"
    refund.refresh_from_db()
    assert refund.status == "needs_check" and "did not answer in time" in refund.error

    assert run_store_action(refund.pk) == "succeeded after reading the store back"

    assert len(woo.refunds["727"]) == 1 and len(woo.created("POST")) == 1
    listed = [r for r in woo.requests if r["method"] == "GET"]
    assert listed[0]["path"] == "/wp-json/wc/v3/orders/727/refunds"


@pytest.mark.django_db
def test_it_lists_refunds_before_a_retry_and_sends_when_none_carries_the_marker(woo, owner):  # noqa: F811
    [refund] = approve(decision_for(woo_case(), Decision.Action.REFUND, owner), owner)
    woo.fail_next("POST", "500")

    assert run_store_action(refund.pk) == "needs_check"
    assert run_store_action(refund.pk) == "succeeded"

    methods = [r["method"] for r in woo.requests]
    assert methods == ["POST", "GET", "POST"]
    assert len(woo.refunds["727"]) == 1


@pytest.mark.django_db
def test_it_shows_a_gateway_that_cannot_refund_and_records_it_by_hand(woo, owner, support):  # noqa: F811
    [refund] = approve(decision_for(woo_case(), Decision.Action.REFUND, owner, amount=Decimal("25.00")), owner)
    woo.fail_next("POST", "cannot_refund")

    assert run_store_action(refund.pk) == "failed"
    refund.refresh_from_db()
    assert refund.gateway_cannot_refund
    assert "Cannot create order refund, please try again. (woocommerce_rest_cannot_create_order_refund)" in refund.error
    assert "return the money in the gateway's dashboard" in refund.error

    with pytest.raises(PermissionDenied):
        retry_action(refund.pk, support, without_gateway=True)
    retry_action(refund.pk, owner, without_gateway=True)
    assert run_store_action(refund.pk) == "succeeded"

    refund.refresh_from_db()
    last_post = woo.created("POST")[-1]["body"]
    assert last_post["api_refund"] is False and last_post["amount"] == "25.00"
    assert last_post["meta_data"][0]["value"] == refund.idempotency_key != refund.previous_keys[0]
    assert len(woo.refunds["727"]) == 1 and woo.refunds["727"][0]["refunded_payment"] is False


@pytest.mark.django_db
def test_it_waits_when_woocommerce_says_too_many_requests(woo, owner):  # noqa: F811
    [refund] = approve(decision_for(woo_case(), Decision.Action.REFUND, owner), owner)
    woo.fail_next("POST", "429")
    assert run_store_action(refund.pk) == "pending"
    refund.refresh_from_db()
    assert "Too many requests (too_many_requests)" in refund.error and woo.refunds == {}


@pytest.mark.django_db
def test_it_counts_an_order_already_cancelled_in_woocommerce_after_a_timeout(woo, owner):  # noqa: F811
    cancel, _refund = approve(decision_for(woo_case(), Decision.Action.CANCEL, owner), owner)
    woo.fail_next("PUT", "hang")
    assert run_store_action(cancel.pk) == "needs_check"
    assert run_store_action(cancel.pk) == "succeeded after reading the store back"
    assert len(woo.created("PUT")) == 1


@pytest.mark.django_db
def test_it_shows_a_refused_login(woo, owner, settings):  # noqa: F811
    settings.WOOCOMMERCE_CONSUMER_SECRET = "cs_wrong"
    [refund] = approve(decision_for(woo_case(), Decision.Action.REFUND, owner), owner)
    assert run_store_action(refund.pk) == "failed"
    assert "Invalid signature" in StoreAction.objects.get().error


@pytest.mark.django_db
def test_it_refuses_to_send_the_keys_to_an_http_store_unless_allowed(woo, owner, settings):  # noqa: F811
    settings.WOOCOMMERCE_ALLOW_HTTP = False
    assert settings.WOOCOMMERCE_URL.startswith("http://")
    cancel, _refund = approve(decision_for(woo_case(), Decision.Action.CANCEL, owner), owner)

    assert run_store_action(cancel.pk) == "failed"
    cancel.refresh_from_db()
    assert "WOOCOMMERCE_URL must start with https://" in cancel.error
    assert woo.requests == []  # nothing reached the store, so no key crossed the network

    settings.WOOCOMMERCE_ALLOW_HTTP = True
    retry_action(cancel.pk, owner)
    assert run_store_action(cancel.pk) == "succeeded"
    assert [r["path"] for r in woo.created("PUT")] == ["/wp-json/wc/v3/orders/727"]
