"""Stop and resume selling, and the backorder wording, on Shopify: approved once, sent once.

The store is ``scripts/fake_shopify.py`` on loopback (products in ``fake_shopify_products``);
every document sent, with its variables, is validated against Shopify's Admin schema by the
``shop`` fixture.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from backorders.models import Product, StorePolicy
from packets.decisions import approve_decision
from packets.models import AuditEvent, Case, Decision, StoreAction
from packets.store_actions.runner import action_payload, run_store_action
from packets.store_actions.selling import propose, propose_resumes
from tests import factories
from tests.packets.store_fakes import shop  # noqa: F401
from tests.packets.test_outbound import SCHEMAS, conforms
from tests.task_queue import run_queued_tasks

pytestmark = pytest.mark.postgres

PRODUCT_GID = "gid://shopify/Product/7001"
VARIANTS = ["gid://shopify/ProductVariant/8001", "gid://shopify/ProductVariant/8002"]


def paused_product_case(shop, *, on_hand: int = 0):  # noqa: F811
    """A stockout case on one variant of a Shopify product with two variants, both taking backorders."""
    red = factories.ProductFactory(
        sku="MUG-RED",
        title="Mug",
        variant_title="Red",
        on_hand=on_hand,
        shopify_product_id="7001",
        shopify_variant_id="8001",
    )
    factories.ProductFactory(
        sku="MUG-BLUE",
        title="Mug",
        variant_title="Blue",
        on_hand=0,
        shopify_product_id="7001",
        shopify_variant_id="8002",
    )
    shop.add_product("7001", ["8001", "8002"], policy="CONTINUE")
    return factories.CaseFactory(
        order=None,
        product=red,
        kind=Case.Kind.STOCKOUT,
        category=Case.Category.SUPPLIER_OUT_OF_STOCK,
        dedupe_key=f"stockout:product:{red.pk}",
        title="Mug (Red) is out of stock",
    )


def approve_pause(case, owner, support) -> StoreAction:
    decision = factories.DecisionFactory(case=case, action=Decision.Action.PAUSE_PRODUCT, decided_by=support)
    approve_decision(decision.pk, owner)
    return StoreAction.objects.get(decision=decision)


@pytest.mark.django_db(transaction=True)
def test_approving_pause_product_sends_one_bulk_update_denying_every_variant(shop, owner, support, owner_client):  # noqa: F811
    case = paused_product_case(shop)
    decision = factories.DecisionFactory(case=case, action=Decision.Action.PAUSE_PRODUCT, decided_by=support)

    approve_decision(decision.pk, owner)
    tasks = run_queued_tasks()  # the store action, and the case's refresh

    assert all(task["success"] for task in tasks), [task["result"] for task in tasks]
    [call] = shop.applied("productVariantsBulkUpdate")
    assert call["variables"] == {
        "productId": PRODUCT_GID,
        "variants": [
            {"id": VARIANTS[1], "inventoryPolicy": "DENY"},
            {"id": VARIANTS[0], "inventoryPolicy": "DENY"},
        ],  # by SKU
    }
    assert shop.policies("7001") == {"8001": "DENY", "8002": "DENY"}
    action = StoreAction.objects.get()
    assert (action.kind, action.status, action.target, action.product.sku) == (
        "stop_selling",
        "succeeded",
        "7001",
        "MUG-RED",
    )
    assert action.approved_by == owner and action.order is None
    assert Product.objects.get(sku="MUG-RED").status == Product.Status.PAUSED
    panel = owner_client.get(reverse("packets:store-action-panel", args=[case.pk])).content.decode()
    assert "Stop selling</strong> on Shopify" in panel and "Done" in panel
    assert "2 variants set to deny orders (DENY)" in panel


@pytest.mark.django_db
def test_the_case_previews_the_stop_before_approval(shop, owner, support, owner_client):  # noqa: F811
    case = paused_product_case(shop)
    factories.DecisionFactory(case=case, action=Decision.Action.PAUSE_PRODUCT, decided_by=support)
    panel = owner_client.get(reverse("packets:store-action-panel", args=[case.pk])).content.decode()
    assert "If “Pause product” is approved:" in panel
    assert "Will stop selling Mug (Red) (MUG-RED) on Shopify when out of stock: 2 variants" in panel
    assert shop.received("productVariantsBulkUpdate") == []


@pytest.mark.django_db
def test_the_supply_coming_back_resumes_selling_once_with_continue(shop, owner, support):  # noqa: F811
    case = paused_product_case(shop)
    stop = approve_pause(case, owner, support)
    assert run_store_action(stop.pk) == "succeeded"
    assert propose_resumes() == []  # nothing came back yet

    Case.objects.filter(pk=case.pk).update(status=Case.Status.RESOLVED, resolved_at=timezone.now())
    [resume] = propose_resumes()
    assert propose_resumes() == [] or StoreAction.objects.filter(kind="resume_selling").count() == 1
    assert run_store_action(resume.pk) == "succeeded"

    calls = shop.applied("productVariantsBulkUpdate")
    assert [c["variables"]["variants"][0]["inventoryPolicy"] for c in calls] == ["DENY", "CONTINUE"]
    assert shop.policies("7001") == {"8001": "CONTINUE", "8002": "CONTINUE"}
    assert (resume.decision_id, resume.approved_by, resume.case_id) == (stop.decision_id, owner, case.pk)
    assert Product.objects.get(sku="MUG-RED").status == Product.Status.ACTIVE
    assert AuditEvent.objects.filter(action="product.resumed", case=case).count() == 1
    assert StoreAction.objects.filter(kind="resume_selling").count() == 1
    # the store_action.succeeded event a subscribed automation receives matches the published schema
    resume.refresh_from_db()
    payload = {
        "type": "store_action.succeeded",
        "timestamp": timezone.now().isoformat(),
        "data": action_payload(resume),
    }
    schema = json.loads((SCHEMAS / "store_action.succeeded.json").read_text())
    assert conforms(payload, schema) == [], payload
    assert payload["data"]["order"] is None and payload["data"]["product"]["target"] == "7001"


@pytest.mark.django_db
def test_a_discontinued_product_is_not_resumed_by_a_resolved_case(shop, owner, support):  # noqa: F811
    case = paused_product_case(shop)
    stop = approve_pause(case, owner, support)
    run_store_action(stop.pk)
    Product.objects.filter(sku="MUG-RED").update(status=Product.Status.DISCONTINUED)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.RESOLVED, resolved_at=timezone.now())
    assert propose_resumes() == []


@pytest.mark.django_db
def test_a_refusal_is_shown_on_the_case_and_the_product_page(shop, owner, support, owner_client):  # noqa: F811
    case = paused_product_case(shop)
    factories.PacketFactory(case=case)
    stop = approve_pause(case, owner, support)
    shop.fail_next(
        "productVariantsBulkUpdate",
        "user_error",
        message="Product variant does not exist",
        code="PRODUCT_VARIANT_DOES_NOT_EXIST",
    )

    assert run_store_action(stop.pk) == "failed"

    stop.refresh_from_db()
    assert stop.error == "variants.0.id: Product variant does not exist (PRODUCT_VARIANT_DOES_NOT_EXIST)"
    said = "Shopify said: variants.0.id: Product variant does not exist (PRODUCT_VARIANT_DOES_NOT_EXIST)"
    assert said in owner_client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()
    page = owner_client.get(reverse("packets:product-detail", args=[case.product_id])).content.decode()
    assert said in page and "Run again" in page
    assert shop.policies("7001") == {"8001": "CONTINUE", "8002": "CONTINUE"}


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["429", "throttled", "500"])
def test_it_retries_throttling_and_server_errors_then_sends_once(shop, owner, support, fault):  # noqa: F811
    case = paused_product_case(shop)
    stop = approve_pause(case, owner, support)
    shop.fail_next("productVariantsBulkUpdate", fault)

    first = run_store_action(stop.pk)
    stop.refresh_from_db()
    assert first == ("needs_check" if fault == "500" else "pending")
    assert stop.next_attempt_at is not None
    StoreAction.objects.filter(pk=stop.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    assert run_store_action(stop.pk) == "succeeded"
    assert len(shop.applied("productVariantsBulkUpdate")) == 1
    stop.refresh_from_db()
    assert stop.attempts == 2 and shop.policies("7001") == {"8001": "DENY", "8002": "DENY"}


@pytest.mark.django_db
def test_a_call_taken_without_an_answer_is_read_back_not_sent_again(shop, owner, support):  # noqa: F811
    case = paused_product_case(shop)
    stop = approve_pause(case, owner, support)
    shop.fail_next("productVariantsBulkUpdate", "hang")  # Shopify applies it; the answer never comes

    assert run_store_action(stop.pk) == "needs_check"
    shop.release.set()
    assert run_store_action(stop.pk) == "succeeded after reading the store back"

    assert len(shop.received("productVariantsBulkUpdate")) == 1
    stop.refresh_from_db()
    assert stop.response["product"]["id"] == PRODUCT_GID


@pytest.mark.django_db(transaction=True)
def test_two_workers_and_a_second_approve_click_send_it_once(shop, owner, support):  # noqa: F811
    case = paused_product_case(shop)
    decision = factories.DecisionFactory(case=case, action=Decision.Action.PAUSE_PRODUCT, decided_by=support)
    approve_decision(decision.pk, owner)
    with pytest.raises(ValidationError):
        approve_decision(decision.pk, owner)  # already approved: nothing new
    stop = StoreAction.objects.get()
    barrier = threading.Barrier(2)

    def worker():
        barrier.wait()
        try:
            run_store_action(stop.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_queued_tasks()  # the task the approval queued finds nothing left to do

    assert len(shop.received("productVariantsBulkUpdate")) == 1
    assert StoreAction.objects.get().status == "succeeded"


@pytest.mark.django_db
def test_the_backorder_wording_is_written_to_the_metafield_and_removed_when_stock_returns(shop, owner):  # noqa: F811
    product = factories.ProductFactory(
        sku="KETTLE", title="Kettle", on_hand=0, shopify_product_id="7005", shopify_variant_id="8050"
    )

    with pytest.raises(ValidationError) as refused:
        propose(product.pk, "set_wording", owner, text="Ships on Jan 12, guaranteed.")
    assert any("names a date" in issue for issue in refused.value.messages)
    assert any("guaranteed" in issue for issue in refused.value.messages)

    wording = propose(product.pk, "set_wording", owner, text="Backordered: ships in 3–5 weeks.")
    assert run_store_action(wording.pk) == "succeeded"
    [call] = shop.applied("metafieldsSet")
    assert call["variables"] == {
        "metafields": [
            {
                "ownerId": "gid://shopify/Product/7005",
                "namespace": "backorder_desk",
                "key": "backorder_message",
                "type": "single_line_text_field",
                "value": "Backordered: ships in 3–5 weeks.",
            }
        ]
    }
    assert shop.metafield("7005") == "Backordered: ships in 3–5 weeks."
    assert propose_resumes() == []

    Product.objects.filter(pk=product.pk).update(on_hand=4)  # stock returns
    [clear] = propose_resumes()
    assert clear.kind == "clear_wording" and clear.approved_by == owner
    assert run_store_action(clear.pk) == "succeeded"
    [delete] = shop.applied("metafieldsDelete")
    assert delete["variables"] == {
        "metafields": [
            {"ownerId": "gid://shopify/Product/7005", "namespace": "backorder_desk", "key": "backorder_message"}
        ]
    }
    assert shop.metafield("7005") is None
    assert propose_resumes() == []


@pytest.mark.django_db
def test_a_stop_from_the_product_page_is_reversed_there_not_by_the_supply(shop, support, support_client):  # noqa: F811
    product = factories.ProductFactory(sku="LAMP", on_hand=0, shopify_product_id="7009", shopify_variant_id="8090")
    url = reverse("packets:product-store-action", args=[product.pk])

    assert support_client.post(url, {"action": "stop"}).status_code == 302
    stop = StoreAction.objects.get()
    assert stop.approved_by == support and stop.decision is None and stop.case is None
    run_store_action(stop.pk)
    Product.objects.filter(pk=product.pk).update(on_hand=5)
    assert propose_resumes() == []  # a person stopped it: a person resumes it

    support_client.post(url, {"action": "resume"})
    resume = StoreAction.objects.get(kind="resume_selling")
    run_store_action(resume.pk)
    assert [c["variables"]["variants"][0]["inventoryPolicy"] for c in shop.applied("productVariantsBulkUpdate")] == [
        "DENY",
        "CONTINUE",
    ]


@pytest.mark.django_db
def test_a_change_while_its_opposite_is_on_its_way_is_refused(shop, owner):  # noqa: F811
    product = factories.ProductFactory(on_hand=0, shopify_product_id="7010", shopify_variant_id="8100")
    first = propose(product.pk, "stop_selling", owner)
    assert propose(product.pk, "stop_selling", owner).pk == first.pk  # the same change: the same row
    with pytest.raises(ValidationError, match="still on its way"):
        propose(product.pk, "resume_selling", owner)


@pytest.mark.django_db
def test_a_policy_that_hides_stopped_products_drafts_them_and_the_resume_activates_them(shop, owner, support):  # noqa: F811
    StorePolicy.objects.current().revise(stop_selling_drafts_product=True)
    case = paused_product_case(shop)
    stop = approve_pause(case, owner, support)
    assert stop.plan["product_status"] == "DRAFT"
    assert run_store_action(stop.pk) == "succeeded"
    [update] = shop.applied("productUpdate")
    assert update["variables"] == {"product": {"id": PRODUCT_GID, "status": "DRAFT"}}
    assert shop.product("7001")["status"] == "DRAFT"

    Case.objects.filter(pk=case.pk).update(status=Case.Status.RESOLVED, resolved_at=timezone.now())
    [resume] = propose_resumes()
    assert run_store_action(resume.pk) == "succeeded"
    assert shop.product("7001")["status"] == "ACTIVE"
    assert shop.policies("7001") == {"8001": "CONTINUE", "8002": "CONTINUE"}
