"""ShipStation's Backorder tag, BigCommerce cancel and refund, and the Connections page for both and Magento.

The platforms are the loopback stand-in of ``tests/backorders/platform_fakes.py``: ShipStation
keeps tags per order, BigCommerce keeps orders and refunds; both check their credentials.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backorders.allocation import apply_stock_count
from backorders.models import WebhookDelivery
from packets.integrations.shipstation_tags import sync_tags
from packets.models import AuditEvent, Decision, PlatformTag, StoreAction
from packets.store_actions.runner import run_store_action
from tests.backorders.platform_fakes import BC_HASH, SS_SECRET, TAG_ID, platforms  # noqa: F401
from tests.packets.store_fakes import approve, backorder_case, decision_for

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SS_ORDER_ID = 43945660


def ss_order(platforms, number: str = "1042"):  # noqa: F811
    platforms.ss_orders.append(
        {"orderId": SS_ORDER_ID, "orderNumber": number, "orderKey": "k", "orderStatus": "awaiting_shipment"}
    )


# --------------------------------------------------------------------------- ShipStation tags


def test_a_waiting_order_gets_the_backorder_tag_once_and_loses_it_when_it_can_ship(platforms):  # noqa: F811
    case = backorder_case("shopify", number="#1042")
    ss_order(platforms)

    assert sync_tags() == "ShipStation tags: 1 of 1 due orders brought in line"
    assert platforms.tags[SS_ORDER_ID] == {TAG_ID}
    [add] = platforms.calls("POST", "/orders/addtag")
    assert json.loads(add.body) == {"orderId": SS_ORDER_ID, "tagId": TAG_ID}
    assert platforms.calls("GET", "/orders")[0].query == "orderNumber=1042"
    row = PlatformTag.objects.get()
    assert (row.wanted, row.tagged, row.remote_order_id) == (True, True, str(SS_ORDER_ID))
    assert AuditEvent.objects.get(action="shipstation.tag_added").case == case

    assert sync_tags() == "ShipStation tags: 0 of 0 due orders brought in line"  # nothing to send again
    assert len(platforms.calls("POST")) == 1

    apply_stock_count(case.product_id, 2, reference="delivery")  # the units arrive: the order can ship
    assert sync_tags() == "ShipStation tags: 1 of 1 due orders brought in line"
    assert platforms.tags[SS_ORDER_ID] == set()
    [remove] = platforms.calls("POST", "/orders/removetag")
    assert json.loads(remove.body) == {"orderId": SS_ORDER_ID, "tagId": TAG_ID}
    assert len(platforms.calls("GET", "/orders")) == 1  # the order's id is kept, not looked up again
    assert AuditEvent.objects.filter(action="shipstation.tag_removed", case=case).count() == 1


def test_a_refused_or_unanswered_tag_call_is_kept_and_tried_again(platforms):  # noqa: F811
    case = backorder_case("shopify", number="#1042")
    assert "0 of 1" in sync_tags()  # ShipStation does not know the order yet
    row = PlatformTag.objects.get()
    assert row.attempts == 1 and "ShipStation has no order numbered #1042" in row.error
    assert row.next_attempt_at > timezone.now()
    assert AuditEvent.objects.get(action="shipstation.tag_failed").case == case
    assert "0 of 0" in sync_tags()  # not due yet: nothing sent

    ss_order(platforms)
    platforms.fail_next("POST", 503, "/orders/addtag")
    PlatformTag.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert "0 of 1" in sync_tags()
    row.refresh_from_db()
    assert row.attempts == 2 and "ShipStation answered 503" in row.error and not row.tagged

    PlatformTag.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert "1 of 1" in sync_tags()
    row.refresh_from_db()
    assert row.tagged and row.attempts == 0 and row.error == ""
    assert platforms.tags[SS_ORDER_ID] == {TAG_ID}


def test_tags_wait_for_their_settings(settings):
    settings.SHIPSTATION_BACKORDER_TAG_ID = ""
    backorder_case("shopify")
    assert "not configured" in sync_tags()
    assert PlatformTag.objects.count() == 0


# --------------------------------------------------------------------------- BigCommerce store actions


def bc_case(platforms):  # noqa: F811
    platforms.bc_orders[250] = {"id": 250, "status_id": 11, "status": "Awaiting Fulfillment", "_shipping": {}}
    return backorder_case("bigcommerce", external_id="250", number="250")


def test_it_cancels_and_refunds_a_bigcommerce_order(platforms, owner):  # noqa: F811
    cancel, refund = approve(decision_for(bc_case(platforms), Decision.Action.CANCEL, owner), owner)
    assert (cancel.platform, refund.after_id) == ("bigcommerce", cancel.pk)

    assert run_store_action(cancel.pk) == "succeeded"
    assert run_store_action(refund.pk) == "succeeded"

    [put] = platforms.calls("PUT")
    assert put.path == f"/stores/{BC_HASH}/v2/orders/250" and json.loads(put.body) == {"status_id": 5}
    assert platforms.bc_orders[250]["status_id"] == 5
    quote, made = platforms.calls("POST")
    assert quote.path.endswith("/v3/orders/250/payment_actions/refund_quotes")
    body = json.loads(made.body)
    refund.refresh_from_db()
    assert body["items"][0]["item_type"] == "ORDER" and body["items"][0]["amount"] == 84.2
    assert refund.idempotency_key in body["items"][0]["reason"]
    assert body["payments"] == [{"provider_id": "braintree", "amount": 84.2, "offline": False}]
    assert refund.external_ref == str(platforms.bc_refunds[250][0]["id"])


def test_a_refund_whose_answer_was_lost_is_never_made_twice(platforms, owner):  # noqa: F811
    [refund] = approve(decision_for(bc_case(platforms), Decision.Action.REFUND, owner), owner)
    platforms.fail_next("POST", -502, "/payment_actions/refunds")  # made, then the answer is lost

    assert run_store_action(refund.pk) == "needs_check"
    assert run_store_action(refund.pk) == "succeeded after reading the store back"
    assert len(platforms.bc_refunds[250]) == 1
    assert len([c for c in platforms.calls("POST") if c.path.endswith("/refunds")]) == 1


def test_a_refused_cancel_shows_bigcommerces_words(platforms, owner):  # noqa: F811
    cancel, refund = approve(decision_for(bc_case(platforms), Decision.Action.CANCEL, owner), owner)
    platforms.fail_next("PUT", 400)
    assert run_store_action(cancel.pk) == "failed"
    cancel.refresh_from_db()
    assert "BigCommerce answered 400: scripted 400" in cancel.error
    assert run_store_action(refund.pk).startswith("waiting")
    assert platforms.calls("POST") == []  # the refund never goes out after a failed cancel
    assert StoreAction.objects.get(pk=refund.pk).status == "pending"


# --------------------------------------------------------------------------- Connections page


def test_the_connections_page_shows_each_platforms_state_and_tests_it(owner_client, platforms, settings):  # noqa: F811
    WebhookDelivery.objects.create(
        source="magento",
        topic="order",
        body_sha256="x",
        body=b"{}",
        status="failed",
        error="order status 'odd'",
        processed_at=timezone.now(),
    )
    settings.SHIPSTATION_API_SECRET = "ss-secret-9876543210"
    body = owner_client.get("/connections/").content.decode()
    for label in ("ShipStation API", "BigCommerce API", "Magento REST API"):
        assert label in body
    assert "ss-secret-9876543210" not in body and "set (…3210)" in body
    assert "order status &#x27;odd&#x27;" in body and str(TAG_ID) in body
    settings.SHIPSTATION_API_SECRET = SS_SECRET  # the one the stand-in takes

    for name, words in [
        ("shipstation", f"tag {TAG_ID} is “Backorder”"),
        ("bigcommerce", "BigCommerce store Backorder Test Store"),
        ("magento", "store view(s): default"),
    ]:
        response = owner_client.post(reverse("packets:connection-test", args=[name]), follow=True)
        assert words in response.content.decode(), name
    settings.MAGENTO_URL = ""
    response = owner_client.post(reverse("packets:connection-test", args=["magento"]), follow=True)
    assert "set MAGENTO_URL and MAGENTO_ACCESS_TOKEN" in response.content.decode()
