"""The product page: what was sent to the store about a product, by whom, when, and with what result."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backorders.models import ChannelStock
from packets.models import AuditEvent, StoreAction
from tests import factories

pytestmark = pytest.mark.postgres


def product_action(product, kind, user, **fields) -> StoreAction:
    plan = {"sku": product.sku, "title": product.display_title, "product_id": product.woocommerce_id}
    plan.update(fields.pop("plan", {}))
    return StoreAction.objects.create(
        product=product,
        platform="woocommerce",
        target=product.woocommerce_id,
        kind=kind,
        plan=plan,
        idempotency_key=f"bd-0-{kind}-{StoreAction.objects.count()}",
        approved_by=user,
        **fields,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 4])
def test_it_shows_the_products_store_actions_in_a_fixed_number_of_queries(
    owner_client, owner, count, django_assert_num_queries
):
    product = factories.ProductFactory(sku="SCARF", title="Scarf", on_hand=0, woocommerce_id="501")
    now = timezone.now()
    for n in range(count):
        kind = "stop_selling" if n % 2 == 0 else "resume_selling"
        product_action(
            product,
            kind,
            owner,
            status="succeeded",
            plan={"backorders": "no" if kind == "stop_selling" else "notify"},
            finished_at=now,
            case=factories.CaseFactory(product=product),
        )
    product_action(product, "set_wording", owner, status="failed", error="WooCommerce answered 400: Invalid ID.")
    ChannelStock.objects.create(
        product=product,
        platform="woocommerce",
        channel_available=9,
        channel_reported_at=now,
        wanted=2,
        sequence=2,
        status="failed",
        attempts=1,
        error="WooCommerce answered 400: Invalid parameter(s): stock_quantity",
        mismatch_at=now,
        mismatch_channel=9,
        mismatch_desk=2,
    )
    url = reverse("packets:product-detail", args=[product.pk])
    # session, user, groups (role); the product; the policy; the actions (+ approver, case); the
    # channels' stock; the suggested wording's ETA (sources, purchase order lines, supplier updates, receipts)
    with django_assert_num_queries(11):
        response = owner_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<strong>Stop selling</strong>") == (count + 1) // 2
    assert "WooCommerce said: WooCommerce answered 400: Invalid ID." in body and "Run again" in body
    assert ("<strong>Stopped</strong>" in body) == (count % 2 == 1)
    assert "Backordered: our supplier has not confirmed a date yet" in body  # the suggested wording
    # the channel's stock: what it reported, the desk's number, the refusal in its words, the oversell flag
    assert "9 available" in body and "<strong>9</strong> offered against the desk's 2" in body
    assert "<strong>not corrected</strong>: the desk's number could not be set" in body
    assert "channel-stock-flagged" in body
    assert "WooCommerce said: WooCommerce answered 400: Invalid parameter(s): stock_quantity" in body
    assert "Send the stock again" in body


@pytest.mark.django_db
def test_a_corrected_mismatch_and_a_pending_push_are_shown_and_the_page_keeps_polling(support_client):
    product = factories.ProductFactory(sku="SCARF", on_hand=5, shopify_inventory_item_id="88", woocommerce_id="505")
    now = timezone.now()
    ChannelStock.objects.create(
        product=product,
        platform="shopify",
        channel_available=5,
        channel_reported_at=now,
        wanted=5,
        pushed=5,
        pushed_at=now,
        status="succeeded",
        mismatch_at=now - timedelta(minutes=1),
        mismatch_channel=12,
        mismatch_desk=5,
    )
    ChannelStock.objects.create(product=product, platform="woocommerce", wanted=5, status="pending")
    body = support_client.get(reverse("packets:product-detail", args=[product.pk])).content.decode()
    assert "<strong>12</strong> offered against the desk's 5" in body
    assert "corrected: the channel was set to 5" in body and "channel-stock-flagged" not in body
    assert "Waiting to be sent" in body and "Channel has it" in body
    assert 'hx-trigger="every 3s"' in body  # a push is waiting: the panel refreshes itself
    assert "Send the stock again" not in body  # support staff, and nothing failed


@pytest.mark.django_db
def test_only_an_owner_sends_a_failed_stock_push_again(client, support, owner, django_capture_on_commit_callbacks):
    product = factories.ProductFactory(on_hand=3, woocommerce_id="506")
    failed = ChannelStock.objects.create(
        product=product, platform="woocommerce", wanted=4, sequence=3, status="failed", attempts=1, error="refused"
    )
    url = reverse("packets:product-stock-retry", args=[product.pk])
    client.force_login(support)
    assert client.post(url, {"platform": "woocommerce"}).status_code == 403
    assert AuditEvent.objects.get(action="access.refused").data["refused_action"] == "product.stock_retry"
    client.force_login(owner)
    assert client.post(url, {"platform": "shopify"}).status_code == 400  # no Shopify row for this product
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"platform": "woocommerce"})
    assert response.status_code == 302 and response["Location"] == reverse("packets:product-detail", args=[product.pk])
    failed.refresh_from_db()
    # the desk's number now (3, not the refused 4), under a new sequence (a new idempotency key), queued
    assert (failed.status, failed.wanted, failed.sequence, failed.attempts, failed.error) == ("pending", 3, 4, 0, "")
    assert len(callbacks) == 1
    assert "sent again by hand after: refused" in AuditEvent.objects.get(action="stock.push_again").summary
    again = client.post(url, {"platform": "woocommerce"}, follow=True)  # no longer failed: refused with a reason
    assert "Only a failed push can be sent again; this one is Waiting to be sent." in again.content.decode()


@pytest.mark.django_db
def test_a_wording_with_a_date_is_refused_and_kept_in_the_form(support_client):
    product = factories.ProductFactory(on_hand=0, woocommerce_id="502")
    url = reverse("packets:product-store-action", args=[product.pk])
    response = support_client.post(url, {"action": "wording", "text": "Ships on 12/20"}, follow=True)
    body = response.content.decode()
    assert "It names a date: say a range of weeks instead" in body
    assert 'value="Ships on 12/20"' in body
    assert not StoreAction.objects.exists()


@pytest.mark.django_db
def test_only_staff_see_or_change_the_product_page_and_refusals_are_recorded(client, support, django_user_model):
    product = factories.ProductFactory(woocommerce_id="503")
    page = reverse("packets:product-detail", args=[product.pk])
    send = reverse("packets:product-store-action", args=[product.pk])
    client.force_login(django_user_model.objects.create_user("outsider", password="x"))  # signed in, no role
    assert client.get(page).status_code == 403
    assert client.post(send, {"action": "stop"}).status_code == 403
    refused = AuditEvent.objects.get(action="access.refused")
    assert refused.data["refused_action"] == "product.store_action"
    assert not StoreAction.objects.exists()

    client.force_login(support)
    assert client.post(send, {"action": "stop"}).status_code == 302
    assert StoreAction.objects.get().kind == "stop_selling"


@pytest.mark.django_db
def test_only_an_owner_runs_a_failed_product_action_again(client, support, owner, django_capture_on_commit_callbacks):
    product = factories.ProductFactory(woocommerce_id="504")
    action = product_action(product, "stop_selling", owner, status="failed", error="refused")
    url = reverse("packets:store-action-retry", args=[action.pk])
    client.force_login(support)
    assert client.post(url).status_code == 403
    client.force_login(owner)
    with django_capture_on_commit_callbacks():
        response = client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("packets:product-detail", args=[product.pk])
    action.refresh_from_db()
    assert action.status == "pending" and action.idempotency_key.startswith("bd-0-stop-selling-")
