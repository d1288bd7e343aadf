"""The product page: what was sent to the store about a product, by whom, when, and with what result."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

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
    url = reverse("packets:product-detail", args=[product.pk])
    # session, user, groups (role); the product; the policy; the actions (+ approver, case); the
    # suggested wording's ETA (sources, purchase order lines, supplier updates, receipts)
    with django_assert_num_queries(10):
        response = owner_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<strong>Stop selling</strong>") == (count + 1) // 2
    assert "WooCommerce said: WooCommerce answered 400: Invalid ID." in body and "Run again" in body
    assert ("<strong>Stopped</strong>" in body) == (count % 2 == 1)
    assert "Backordered: our supplier has not confirmed a date yet" in body  # the suggested wording


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
