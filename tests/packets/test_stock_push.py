"""The desk as the stock source: available-to-promise set on Shopify and WooCommerce, once, whatever goes wrong.

The channels are loopback stand-ins (``tests.packets.stock_fakes``); receipts, sales and
cancellations are the product's own verbs; the worker is django-q2's own loop where it matters.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backorders.allocation import receive_stock, release_order
from backorders.channel_stock.levels import record_shopify_level
from backorders.models import ChannelStock, OrderLine, Product, ShopifyLocationLevel
from packets.models import AuditEvent
from packets.store_actions.stock_push import (
    after_stock_change,
    push_channel_stock,
    reconcile_channel_stock,
    retry_due_pushes,
)
from tests import factories
from tests.backorders.intake_samples import INTAKE_SETTINGS, sample
from tests.backorders.test_intake_woocommerce import deliver as deliver_woo
from tests.packets.stock_fakes import shopify_stock, woo_products  # noqa: F401
from tests.packets.store_fakes import shop  # noqa: F401
from tests.packets.test_shopify_schema import DOCUMENTS
from tests.task_queue import queued_task_names, run_queued_tasks

pytestmark = pytest.mark.postgres

ITEM, SHELF, BACKROOM = "271878346596884000", "24826418", "24826419"
ITEM_GID = f"gid://shopify/InventoryItem/{ITEM}"
SHELF_GID, BACKROOM_GID = f"gid://shopify/Location/{SHELF}", f"gid://shopify/Location/{BACKROOM}"


@pytest.fixture(autouse=True)
def desk_is_the_source(settings):
    settings.STOCK_SOURCE = "desk"
    settings.SHOPIFY_SELLING_LOCATIONS = []
    settings.SHOPIFY_STOCK_LOCATION = ""
    settings.STORE_ACTION_RETRY_BASE_SECONDS = 30
    settings.STORE_ACTION_MAX_ATTEMPTS = 3


def mug(on_hand=0, **fields) -> Product:
    ids = {"shopify_inventory_item_id": ITEM, "woocommerce_id": "77", **fields}
    product = factories.ProductFactory(sku="MUG-SAGE", on_hand=on_hand, **ids)
    # Shopify told us about two selling locations: the shelf (3) and the back room (4)
    ShopifyLocationLevel.objects.create(product=product, inventory_item_id=ITEM, location_id=SHELF, available=3)
    ShopifyLocationLevel.objects.create(product=product, inventory_item_id=ITEM, location_id=BACKROOM, available=4)
    return product


def row(product, platform="shopify") -> ChannelStock:
    return ChannelStock.objects.get(product=product, platform=platform)


def push(product, platform="shopify") -> str:
    return push_channel_stock(row(product, platform).pk)


@pytest.mark.django_db(transaction=True)
def test_a_receipt_sets_both_channels_to_the_desks_available_to_promise_through_the_worker(
    shopify_stock,  # noqa: F811
    woo_products,  # noqa: F811
):
    product = mug()
    woo_products.products["77"] = {"id": 77, "manage_stock": False, "stock_quantity": None}
    waiting = factories.BackorderedLineFactory(product=product, quantity=2)

    receive_stock(product.pk, 9, reference="PO-7")  # 2 go to the waiting line: 7 to promise

    assert sorted(queued_task_names()) == ["packets.store_actions.stock_push.push_channel_stock"] * 2
    tasks = run_queued_tasks()
    assert all(task["success"] for task in tasks), tasks
    [call] = shopify_stock.applied()
    assert call["key"] == f"backorder-desk-stock-{row(product).pk}-1"
    assert call["variables"]["input"]["name"] == "available"
    assert call["variables"]["input"]["reason"] == "correction"
    assert call["variables"]["input"]["quantities"] == [
        {"inventoryItemId": ITEM_GID, "locationId": SHELF_GID, "quantity": 7, "changeFromQuantity": None},
        {"inventoryItemId": ITEM_GID, "locationId": BACKROOM_GID, "quantity": 0, "changeFromQuantity": None},
    ]
    assert shopify_stock.levels == {(ITEM_GID, SHELF_GID): 7, (ITEM_GID, BACKROOM_GID): 0}  # the variant sums to 7
    [put] = woo_products.received
    assert (put["method"], put["path"], put["body"]) == (
        "PUT",
        "/wp-json/wc/v3/products/77",
        {"manage_stock": True, "stock_quantity": 7},
    )
    for platform in ("shopify", "woocommerce"):
        done = row(product, platform)
        assert (done.status, done.pushed, done.attempts) == ("succeeded", 7, 1)
    assert AuditEvent.objects.filter(action="stock.pushed").count() == 2
    waiting.refresh_from_db()
    assert waiting.allocated == 2


@pytest.mark.django_db
def test_sales_and_cancellations_send_the_new_number_and_the_same_number_is_never_sent_twice(
    shopify_stock,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    product = mug(on_hand=5, woocommerce_id="")
    after_stock_change([product.pk])
    assert push(product) == "MUG-SAGE on Shopify: set to 5 available"

    line = factories.OrderLineFactory(product=product, quantity=2, allocated=2, state=OrderLine.State.ALLOCATED)
    Product.objects.filter(pk=product.pk).update(allocated=2)
    with django_capture_on_commit_callbacks(execute=True):
        release_order(line.order_id)  # the units come back: still 5 to promise, nothing to send
    assert row(product).status == "succeeded" and row(product).sequence == 1

    Product.objects.filter(pk=product.pk).update(on_hand=4)
    assert after_stock_change([product.pk]) == [row(product).pk]
    assert after_stock_change([product.pk]) == []  # already waiting with that number
    push(product)
    assert after_stock_change([product.pk]) == []  # the channel has it
    assert [c["variables"]["input"]["quantities"][0]["quantity"] for c in shopify_stock.applied()] == [5, 4]


@pytest.mark.django_db
def test_nothing_is_sent_when_the_channel_is_the_stock_source(shopify_stock, settings):  # noqa: F811
    settings.STOCK_SOURCE = "channel"
    product = mug()
    receive_stock(product.pk, 3)
    assert after_stock_change([product.pk]) == []
    assert not ChannelStock.objects.exists() and queued_task_names() == []


@pytest.mark.django_db
def test_a_throttled_push_waits_and_is_sent_again_with_the_same_idempotency_key(shopify_stock):  # noqa: F811
    product = mug(on_hand=6, woocommerce_id="")
    after_stock_change([product.pk])
    shopify_stock.fail_next("throttled")

    assert "not set yet" in push(product)
    waiting = row(product)
    assert waiting.status == "pending" and waiting.next_attempt_at > timezone.now()
    assert retry_due_pushes() == 0  # not due yet

    ChannelStock.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert retry_due_pushes() == 1
    assert push(product) == "MUG-SAGE on Shopify: set to 6 available"
    first, second = shopify_stock.received
    assert first["key"] == second["key"] and len(shopify_stock.applied()) == 1
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)) == [
        "stock.push_retry",
        "stock.pushed",
    ]


@pytest.mark.django_db
def test_a_push_that_got_no_answer_is_sent_again_and_applied_once(shopify_stock):  # noqa: F811
    product = mug(on_hand=6, woocommerce_id="")
    after_stock_change([product.pk])
    shopify_stock.fail_next("hang")  # Shopify applies it, the answer never comes
    assert "not set yet" in push(product)
    shopify_stock.fail_next("500")
    ChannelStock.objects.filter(pk=row(product).pk).update(next_attempt_at=None)
    assert "not set yet" in push(product)
    assert push(product) == "MUG-SAGE on Shopify: set to 6 available"
    assert len(shopify_stock.received) == 3 and len(shopify_stock.applied()) == 1  # the key made the repeat harmless
    assert row(product).attempts == 3


@pytest.mark.django_db
def test_shopifys_refusal_fails_the_push_with_its_words_and_it_is_not_sent_again(shopify_stock):  # noqa: F811
    product = mug(on_hand=2, woocommerce_id="")
    after_stock_change([product.pk])
    shopify_stock.fail_next("user_error", "INVALID_LOCATION", "The specified location could not be found.")

    assert "could not be set" in push(product)
    failed = row(product)
    assert failed.status == "failed"
    assert (
        failed.error == "input.quantities.0.locationId: The specified location could not be found. (INVALID_LOCATION)"
    )
    assert retry_due_pushes() == 0 and after_stock_change([product.pk]) == []  # the same number stays failed
    assert AuditEvent.objects.get(action="stock.push_failed").object_id == str(failed.pk)

    Product.objects.filter(pk=product.pk).update(on_hand=3)  # a new number is worth another try
    assert after_stock_change([product.pk]) == [failed.pk]
    assert push(product) == "MUG-SAGE on Shopify: set to 3 available"


@pytest.mark.django_db
def test_a_push_that_keeps_getting_no_answer_gives_up_after_the_last_attempt(shopify_stock):  # noqa: F811
    product = mug(on_hand=2, woocommerce_id="")
    after_stock_change([product.pk])
    for _ in range(3):
        shopify_stock.fail_next("429")
        ChannelStock.objects.filter(pk=row(product).pk).update(next_attempt_at=None)
        words = push(product)
    assert words.endswith("could not be set after 3 attempts: Shopify answered 429 Too Many Requests")
    assert row(product).status == "failed" and shopify_stock.applied() == []


@pytest.mark.django_db
def test_woocommerce_refusals_fail_and_its_throttling_waits(woo_products, settings):  # noqa: F811
    product = mug(on_hand=4, shopify_inventory_item_id="")
    ShopifyLocationLevel.objects.all().delete()
    woo_products.products["77"] = {"id": 77, "manage_stock": True, "stock_quantity": 9}
    after_stock_change([product.pk])
    woo_products.faults.extend(["429", "400"])

    assert "not set yet" in push(product, "woocommerce")
    assert row(product, "woocommerce").status == "pending"
    assert "could not be set" in push(product, "woocommerce")
    failed = row(product, "woocommerce")
    assert failed.status == "failed" and "Invalid parameter(s): stock_quantity (rest_invalid_param)" in failed.error
    assert woo_products.products["77"]["stock_quantity"] == 9

    settings.WOOCOMMERCE_CONSUMER_SECRET = "cs_wrong"
    Product.objects.filter(pk=product.pk).update(on_hand=5)
    after_stock_change([product.pk])
    assert "could not be set" in push(product, "woocommerce")
    assert "401" in row(product, "woocommerce").error


@pytest.mark.django_db
def test_a_push_without_settings_or_a_known_location_fails_saying_what_is_missing(settings):
    settings.SHOPIFY_SHOP_URL = ""
    product = mug(on_hand=2, woocommerce_id="")
    after_stock_change([product.pk])
    push(product)
    assert "set SHOPIFY_SHOP_URL and SHOPIFY_ADMIN_TOKEN" in row(product).error

    ShopifyLocationLevel.objects.all().delete()
    Product.objects.filter(pk=product.pk).update(on_hand=3)
    after_stock_change([product.pk])
    push(product)
    assert "no Shopify location is known for MUG-SAGE yet" in row(product).error


@pytest.mark.django_db
def test_a_newer_number_that_arrives_while_a_push_runs_is_sent_after_it(shopify_stock):  # noqa: F811
    product = mug(on_hand=5, woocommerce_id="")
    after_stock_change([product.pk])
    ChannelStock.objects.filter(pk=row(product).pk).update(status="running", started_at=timezone.now())
    Product.objects.filter(pk=product.pk).update(on_hand=8)
    assert after_stock_change([product.pk]) == []  # the running push picks it up when it is done
    assert push(product).startswith("nothing to do")

    ChannelStock.objects.filter(pk=row(product).pk).update(status="pending")
    push(product)
    assert row(product).pushed == 8 and row(product).status == "succeeded"


@pytest.mark.django_db
def test_a_channel_offering_more_than_the_desk_is_flagged_and_corrected(shopify_stock):  # noqa: F811
    product = mug(on_hand=5, woocommerce_id="")
    after_stock_change([product.pk])
    push(product)
    # someone raised the stock in Shopify's admin: the channel now offers 9 against the desk's 5
    ChannelStock.objects.filter(pk=row(product).pk).update(channel_available=9, channel_reported_at=timezone.now())
    assert after_stock_change([product.pk]) == [row(product).pk]
    flagged = AuditEvent.objects.get(action="stock.mismatch")
    assert "offers 9, the desk has 5 to promise" in flagged.summary
    kept = row(product)  # kept on the row too, with when, for the product page
    assert (kept.mismatch_channel, kept.mismatch_desk, kept.mismatch_corrected) == (9, 5, False)
    assert kept.mismatch_at is not None and abs(kept.mismatch_at - flagged.at) < timedelta(seconds=5)
    push(product)
    assert row(product).mismatch_corrected
    assert [c["variables"]["input"]["quantities"][0]["quantity"] for c in shopify_stock.applied()] == [5, 5]

    # a channel offering fewer (a sale it has not told the desk about yet) is left alone
    ChannelStock.objects.filter(pk=row(product).pk).update(channel_available=4, channel_reported_at=timezone.now())
    assert after_stock_change([product.pk]) == []


def test_the_schema_test_checks_the_stock_document():
    assert "packets/store_actions/stock_push.py:SET_QUANTITIES" in DOCUMENTS


@pytest.mark.django_db
def test_shopifys_echo_of_a_push_one_location_at_a_time_is_no_mismatch(shopify_stock):  # noqa: F811
    product = mug(on_hand=6, woocommerce_id="")
    after_stock_change([product.pk])
    push(product)  # the shelf set to 6, the back room to 0
    assert dict(ShopifyLocationLevel.objects.values_list("location_id", "available")) == {SHELF: 6, BACKROOM: 0}

    # inventory_levels/update arrives once per location; the first alone must not look like 6 + 4
    assert record_shopify_level(product, ITEM, SHELF, 6, timezone.now()) == 6
    assert after_stock_change([product.pk]) == []
    assert not AuditEvent.objects.filter(action="stock.mismatch").exists()


@pytest.mark.django_db
def test_a_sale_the_channel_has_not_heard_of_yet_is_a_new_number_not_a_mismatch(shopify_stock):  # noqa: F811
    product = mug(on_hand=5, woocommerce_id="")
    after_stock_change([product.pk])
    push(product)
    Product.objects.filter(pk=product.pk).update(on_hand=4)  # the channel still offers the 5 it was told
    assert after_stock_change([product.pk]) == [row(product).pk]
    assert not AuditEvent.objects.filter(action="stock.mismatch").exists()


@pytest.mark.django_db(transaction=True)
def test_a_woocommerce_product_webhook_offering_more_than_the_desk_is_corrected_through_the_worker(
    client,
    woo_products,  # noqa: F811
    settings,
):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.INTAKE_FOLLOWUP_TASK = ""  # only the stock push is looked at here
    product = factories.ProductFactory(sku="premium-quality", woocommerce_id="794", on_hand=4)
    woo_products.products["794"] = {"id": 794, "manage_stock": True, "stock_quantity": 10}
    payload = dict(sample("woocommerce-product-updated.json"), sku="premium-quality", manage_stock=True)
    payload["stock_quantity"] = 10  # someone typed 10 into WooCommerce's admin

    delivery = deliver_woo(client, "product.updated", payload)
    assert "WooCommerce reports 10 in stock (the desk is the stock source)" in delivery.error
    # the endpoint queued the delivery (already processed above); applying it queued one push
    assert queued_task_names().count("packets.store_actions.stock_push.push_channel_stock") == 1
    assert all(task["success"] for task in run_queued_tasks())

    assert [r["body"] for r in woo_products.received] == [{"manage_stock": True, "stock_quantity": 4}]
    assert woo_products.products["794"]["stock_quantity"] == 4
    product.refresh_from_db()
    assert product.on_hand == 4  # the desk's count stands
    assert "WooCommerce offers 10, the desk has 4 to promise" in AuditEvent.objects.get(action="stock.mismatch").summary


@pytest.mark.django_db
def test_the_reconcile_schedule_catches_a_number_no_change_announced(shopify_stock, django_assert_num_queries):  # noqa: F811
    product = mug(on_hand=5, woocommerce_id="")
    factories.ProductFactory(sku="NOT-ON-A-CHANNEL", on_hand=3)
    after_stock_change([product.pk])
    push(product)
    Product.objects.filter(pk=product.pk).update(on_hand=8)  # written around the verbs: no hook heard it

    assert reconcile_channel_stock() == 1
    assert push(product) == "MUG-SAGE on Shopify: set to 8 available"
    with django_assert_num_queries(2):  # nothing differs: two queries, nothing written
        assert reconcile_channel_stock() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("told", ["parent_id", "links"])
def test_a_woocommerce_variation_is_pushed_under_its_parent_product(client, woo_products, settings, told):  # noqa: F811
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.INTAKE_FOLLOWUP_TASK = ""
    payload = dict(sample("woocommerce-product-variation-updated.json"), sku="SHIP-BLACK", manage_stock=True)
    payload["stock_quantity"] = 8
    if told == "parent_id":  # the product webhook for a variation names its parent
        payload.update(type="variation", parent_id=22, _links={})
    # else: only the variation's own link, .../products/22/variations/732, says where it lives
    woo_products.products["732"] = {"id": 732, "parent_id": 22, "manage_stock": True, "stock_quantity": 8}
    factories.ProductFactory(sku="SHIP-BLACK", on_hand=3)

    deliver_woo(client, "product.updated", payload)
    product = Product.objects.get(sku="SHIP-BLACK")
    assert (product.woocommerce_id, product.woocommerce_parent_id) == ("732", "22")
    assert all(task["success"] for task in run_queued_tasks())

    assert [(r["method"], r["path"], r["body"]) for r in woo_products.received] == [
        ("PUT", "/wp-json/wc/v3/products/22/variations/732", {"manage_stock": True, "stock_quantity": 3})
    ]
    assert woo_products.products["732"]["stock_quantity"] == 3
    assert row(product, "woocommerce").status == "succeeded"


@pytest.mark.django_db
def test_a_variation_without_its_parent_known_is_refused_by_the_product_endpoint(woo_products):  # noqa: F811
    # the stand-in, like WooCommerce, takes a variation's stock only under its parent
    product = factories.ProductFactory(sku="SHIP-BLUE", on_hand=2, woocommerce_id="733")
    woo_products.products["733"] = {"id": 733, "parent_id": 22, "manage_stock": True, "stock_quantity": 5}
    after_stock_change([product.pk])
    assert "could not be set" in push(product, "woocommerce")
    assert "Invalid ID" in row(product, "woocommerce").error

    Product.objects.filter(pk=product.pk).update(woocommerce_parent_id="22", on_hand=1)
    after_stock_change([product.pk])
    assert push(product, "woocommerce") == "SHIP-BLUE on WooCommerce: set to 1 available"
    assert woo_products.received[-1]["path"] == "/wp-json/wc/v3/products/22/variations/733"


@pytest.mark.django_db
def test_a_simple_product_webhook_clears_a_parent_it_no_longer_has(client, settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.STOCK_SOURCE = "channel"
    factories.ProductFactory(sku="premium-quality", woocommerce_id="794", woocommerce_parent_id="12")
    deliver_woo(client, "product.updated", dict(sample("woocommerce-product-updated.json"), sku="premium-quality"))
    assert Product.objects.get(sku="premium-quality").woocommerce_parent_id == ""


@pytest.mark.django_db
def test_the_demo_shopify_stand_in_takes_the_desks_stock(shop):  # noqa: F811
    """``scripts/fake_shopify.py``, which the demo store runs against, answers the stock push too."""
    product = mug(on_hand=6, woocommerce_id="")
    after_stock_change([product.pk])
    assert push(product) == "MUG-SAGE on Shopify: set to 6 available"
    assert (shop.available(ITEM, SHELF), shop.available(ITEM_GID, BACKROOM_GID)) == (6, 0)
    [call] = shop.applied("inventorySetQuantities")
    assert call["variables"]["input"]["reason"] == "correction"

    # a refusal in Shopify's words fails the push; the same key sent again is answered, not applied twice
    shop.fail_next("inventorySetQuantities", "user_error", message="The location is not active.", code="INVALID")
    Product.objects.filter(pk=product.pk).update(on_hand=2)
    after_stock_change([product.pk])
    assert "could not be set" in push(product) and "The location is not active." in row(product).error
    assert shop.available(ITEM, SHELF) == 6
    request = row(product).request
    again = shop.answer(request["query"], request["variables"])
    assert again[1]["data"]["inventorySetQuantities"]["userErrors"] == []
    assert shop.answer(request["query"], request["variables"])[1] == again[1]
    assert len(shop.applied("inventorySetQuantities")) == 2 and shop.available(ITEM, SHELF) == 2
