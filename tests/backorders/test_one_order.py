"""One order, wherever it came from: Shopify's orders export and Shopify's webhooks make one order.

The CSV side is the real import job (``run_job``); the webhook side is the real endpoint and worker
(``deliver``), or, in the race, the same adapter called from a second thread. Both on PostgreSQL.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from backorders.intake import shopify
from backorders.intake.orders import upsert_order
from backorders.models import Customer, ImportJob, Order, OrderLine, Product, StockAllocation, WebhookDelivery
from packets.models import Case
from tests import factories
from tests.backorders.intake_samples import INTAKE_SETTINGS
from tests.backorders.test_csv_imports import first_row, order_row, orders_csv, run
from tests.backorders.test_intake_shopify import deliver, open_order

pytestmark = pytest.mark.postgres

ORDER_ID = "820982911946154500"
RED_LINE, BLUE_LINE = "866550311766439000", "141249953214522980"


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)


def webhook_order(number="#9999", order_id=ORDER_ID) -> dict:
    """Shopify's orders/create sample, open, with two different mugs on its two lines."""
    payload = open_order()
    payload.update(id=int(order_id), name=number)
    red, blue = payload["line_items"]
    red.update(sku="MUG-RED", variant_id=4401, quantity=1, current_quantity=1)
    blue.update(sku="MUG-BLUE", variant_id=4402, quantity=1, current_quantity=1)
    return payload


def csv_order(number="#9999") -> bytes:
    return orders_csv([first_row(number, "MUG-RED", quantity="1"), order_row(number, "MUG-BLUE", quantity="1")])


def mugs() -> tuple[Product, Product]:
    return factories.ProductFactory(sku="MUG-RED", on_hand=5), factories.ProductFactory(sku="MUG-BLUE", on_hand=0)


@pytest.mark.django_db
def test_a_csv_order_that_a_webhook_delivers_later_stays_one_order(client):
    red, blue = mugs()
    job = run("orders", csv_order())
    assert job.status == ImportJob.Status.DONE, job.errors
    imported = Order.objects.get()
    case = factories.CaseFactory(order=imported, product=blue)
    assert StockAllocation.objects.filter(kind="sale").count() == 1

    done = deliver(client, "orders/create", webhook_order(), "w-1")
    done.refresh_from_db()
    assert done.status == WebhookDelivery.Status.PROCESSED, done.error
    order = Order.objects.get()
    assert order.pk == imported.pk
    assert (order.channel, order.external_id, order.number) == ("shopify", ORDER_ID, "#9999")
    lines = {line.sku: line for line in order.lines.all()}
    assert {sku: line.external_id for sku, line in lines.items()} == {"MUG-RED": RED_LINE, "MUG-BLUE": BLUE_LINE}
    assert (lines["MUG-RED"].allocated, lines["MUG-BLUE"].state) == (1, "backordered")
    red.refresh_from_db()
    blue.refresh_from_db()
    assert red.allocated == 1  # the unit the CSV order holds is not reserved a second time
    assert (red.shopify_variant_id, blue.shopify_variant_id) == ("4401", "4402")  # the webhook's ids fill in
    assert StockAllocation.objects.filter(kind="sale").count() == 1
    assert order.customer.shopify_id != "" and Customer.objects.count() == 2  # the sample's buyer is not the CSV's
    assert list(Case.objects.filter(order__number="#9999")) == [case]

    # Shopify's later updates and the same CSV again still find the one order
    deliver(client, "orders/updated", dict(webhook_order(), updated_at="2026-09-03T11:00:00-04:00"), "w-2")
    again = run("orders", csv_order())
    assert again.errors[0]["level"] == "flag" and "already kept" in again.errors[0]["reason"]
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2
    red.refresh_from_db()
    assert red.allocated == 1


@pytest.mark.django_db
def test_a_line_without_a_sku_is_matched_by_its_variants_product_and_a_new_line_is_added(client):
    red, _ = mugs()
    Product.objects.filter(pk=red.pk).update(shopify_variant_id="4401")
    run("orders", csv_order())
    payload = webhook_order()
    payload["line_items"][0]["sku"] = None  # Shopify sends null when the variant has no SKU
    extra = dict(payload["line_items"][1], id=141249953214522999, sku="MUG-GREEN", variant_id=4403)
    payload["line_items"].append(extra)
    factories.ProductFactory(sku="MUG-GREEN", on_hand=1)

    deliver(client, "orders/create", payload, "w-1")

    order = Order.objects.get()
    ids = dict(order.lines.values_list("product__sku", "external_id"))
    assert ids == {"MUG-RED": RED_LINE, "MUG-BLUE": BLUE_LINE, "MUG-GREEN": "141249953214522999"}
    red.refresh_from_db()
    assert red.allocated == 1 and Product.objects.get(sku="MUG-GREEN").allocated == 1


@pytest.mark.django_db
def test_a_webhook_order_that_a_csv_names_later_stays_one_order(client):
    red, _ = mugs()
    deliver(client, "orders/create", webhook_order(), "w-1")
    job = run("orders", csv_order())
    assert job.errors[0]["level"] == "flag"
    order = Order.objects.get()
    assert order.channel == "shopify" and order.lines.count() == 2
    red.refresh_from_db()
    assert red.allocated == 1


@pytest.mark.django_db
def test_a_second_shopify_order_under_a_number_already_held_is_refused_with_its_reason(client):
    mugs()
    deliver(client, "orders/create", webhook_order(), "w-1")
    other = deliver(client, "orders/create", webhook_order(order_id="820982911946154999"), "w-2")
    other.refresh_from_db()
    assert other.status == WebhookDelivery.Status.FAILED
    assert "#9999" in other.error and "one number is one order" in other.error
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2


def _in_thread(work, barrier: threading.Barrier, errors: list) -> threading.Thread:
    def run_it():
        try:
            barrier.wait(timeout=10)
            work()
        except Exception as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run_it)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_csv_and_a_webhook_for_the_same_order_arriving_at_once_make_one_order():
    red, _ = mugs()
    rounds = [f"#{9000 + n}" for n in range(4)]
    for n, number in enumerate(rounds):
        payload = webhook_order(number=number, order_id=str(820982911946150000 + n))
        for line in payload["line_items"]:
            line["id"] = int(line["id"]) + n  # line ids are unique across a shop's orders
        barrier, errors = threading.Barrier(2), []
        threads = [
            _in_thread(lambda number=number: run("orders", csv_order(number)), barrier, errors),
            _in_thread(lambda payload=payload: upsert_order(shopify.order_facts(payload)), barrier, errors),
        ]
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        order = Order.objects.get(number=number)
        assert order.channel == "shopify"  # whichever came first, the webhook's ids are kept
        assert order.lines.count() == 2
        assert set(order.lines.values_list("external_id", flat=True)) == {
            str(int(RED_LINE) + n),
            str(int(BLUE_LINE) + n),
        }
    assert Order.objects.count() == len(rounds)
    red.refresh_from_db()
    held = sum(OrderLine.objects.filter(product=red).values_list("allocated", flat=True))
    assert red.allocated == held == len(rounds)
