"""A batch writes the new orders its deliveries bring together, on real PostgreSQL.

The statements a batch of new orders costs do not grow with the batch; the orders, lines,
customers, stock and delivery outcomes are those of applying the deliveries one by one (stock
in arrival order); a delivery the set-based write cannot take goes one by one and fails alone;
an order kept already, or named twice in the batch, is applied one by one in arrival order.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from backorders.intake import batches
from backorders.models import Customer, Order, OrderLine, Product, StockAllocation, WebhookDelivery
from tests.backorders.intake_samples import INTAKE_SETTINGS
from tests.backorders.test_intake_batches import order_payload, store

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.INTAKE_BATCH_SIZE = 50


def new_order(n: int, *, email: str = "jon@example.com", orders_count: int = 1, **changes) -> dict:
    payload = order_payload(n, **changes)
    payload["email"] = payload["contact_email"] = email
    payload["customer"] = {**payload["customer"], "email": email, "orders_count": orders_count}
    return payload


def seed_catalog(client) -> Product:
    """A first delivery makes the sample's product (an unknown SKU); it then has stock for two more units
    than that order's two waiting lines are entitled to."""
    store(client, "orders/create", new_order(900), "seed")
    batches.apply_batch(50)
    product = Product.objects.get()
    Product.objects.filter(pk=product.pk).update(on_hand=4)
    return product


def statements_for(client, first: int, count: int) -> int:
    for n in range(first, first + count):
        store(client, "orders/create", new_order(n, email=f"c{n}@example.com"), f"w-{n}")
    # the rows are copied in (COPY, which the capture does not see) after one statement drawing
    # their ids for each of the customers, the orders and the lines
    with CaptureQueriesContext(connection) as ctx:
        result = batches.apply_batch(50)
    assert result.statuses == {WebhookDelivery.Status.PROCESSED: count}
    return len(ctx.captured_queries)


def test_a_batch_of_new_orders_costs_the_same_statements_whatever_its_size(client):
    product = seed_catalog(client)
    Product.objects.filter(pk=product.pk).update(on_hand=1000)  # every batch's new lines take stock
    small = statements_for(client, 1, 3)
    large = statements_for(client, 100, 30)
    assert (small, large) == (29, 29)
    assert Order.objects.count() == 34 and OrderLine.objects.count() == 68


def test_new_orders_written_together_match_one_by_one(client):
    product = seed_catalog(client)
    stored = [
        store(client, "orders/create", new_order(1, orders_count=3), "w-1"),
        store(client, "orders/create", new_order(2, email="ann@example.com"), "w-2"),
        store(client, "orders/create", new_order(3, orders_count=5), "w-3"),
    ]

    result = batches.apply_batch(50)

    assert result.statuses == {WebhookDelivery.Status.PROCESSED: 3} and result.changed
    for delivery, n in zip(stored, (1, 2, 3), strict=True):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.error, delivery.attempts) == ("processed", f"order #B{n}", 1)
        assert delivery.resource_id == f"order:{7_000_000 + n}" and delivery.processed_at
    # one customer per email, brought up to the highest orders count the orders gave
    jon = Customer.objects.get(email="jon@example.com")
    assert jon.orders_count == 5 and Customer.objects.count() == 2
    assert set(Order.objects.filter(number__in=["#B1", "#B3"]).values_list("customer", flat=True)) == {jon.pk}
    # stock in arrival order: the first new order takes the two units free, the later ones wait
    lines = {
        number: sorted(OrderLine.objects.filter(order__number=number).values_list("state", "allocated"))
        for number in ("#B1", "#B2", "#B3")
    }
    assert lines["#B1"] == [("allocated", 1), ("allocated", 1)]
    assert lines["#B2"] == lines["#B3"] == [("backordered", 0), ("backordered", 0)]
    product.refresh_from_db()
    assert (product.on_hand, product.allocated) == (4, 2)
    sale = StockAllocation.objects.filter(kind="sale", reference="#B1").get()
    assert sale.applied_units == 2


def test_a_delivery_the_set_write_refuses_fails_alone(client):
    seed_catalog(client)
    good = store(client, "orders/create", new_order(1), "w-1")
    too_large = new_order(2)
    for name in ("total_price", "current_total_price", "subtotal_price", "current_subtotal_price"):
        too_large[name] = "1" + "0" * 20  # beyond the column: the set-based insert is refused
    bad = store(client, "orders/create", too_large, "w-2")
    later = store(client, "orders/create", new_order(3), "w-3")

    result = batches.apply_batch(50)

    statuses = dict(WebhookDelivery.objects.filter(pk__in=[good.pk, bad.pk, later.pk]).values_list("pk", "status"))
    assert statuses == {good.pk: "processed", bad.pk: "failed", later.pk: "processed"}
    assert result.statuses == {WebhookDelivery.Status.PROCESSED: 2, WebhookDelivery.Status.FAILED: 1}
    assert not Order.objects.filter(number="#B2").exists()
    assert Order.objects.filter(number__in=["#B1", "#B3"]).count() == 2
    assert WebhookDelivery.objects.get(pk=bad.pk).attempts == 1


def test_kept_orders_and_repeated_ones_go_one_by_one_in_arrival_order(client):
    seed_catalog(client)
    store(client, "orders/create", new_order(1, quantity=1, minute=10), "w-1")
    store(client, "orders/create", new_order(2, quantity=1, minute=10), "w-2")
    store(client, "orders/updated", new_order(2, quantity=3, minute=20), "w-3")  # the same order twice
    store(client, "orders/updated", new_order(900, quantity=2, minute=40), "w-4")  # a kept order

    result = batches.apply_batch(50)

    assert result.statuses == {WebhookDelivery.Status.PROCESSED: 4}
    assert set(OrderLine.objects.filter(order__number="#B2").values_list("quantity", flat=True)) == {3}
    assert set(OrderLine.objects.filter(order__number="#B900").values_list("quantity", flat=True)) == {2}
    # the kept order's edit came after the new order #B1: #B1 had taken the stock first
    assert set(OrderLine.objects.filter(order__number="#B1").values_list("state", flat=True)) == {"allocated"}


def test_new_woocommerce_orders_are_written_together(client, monkeypatch):
    from backorders.intake import batch_orders
    from tests.backorders.intake_samples import compact, post_woocommerce, sample

    Product.objects.create(sku="HOODIE", title="Hoodie", price=45, on_hand=10, woocommerce_id="93")
    Product.objects.create(sku="Bar3", title="Bar", price=5, on_hand=0, woocommerce_id="23")
    written: list[int] = []
    real_write = batch_orders.write
    monkeypatch.setattr(batch_orders, "write", lambda run, *args: written.append(len(run)) or real_write(run, *args))
    for n in (727, 728):
        payload = dict(sample("woocommerce-order-created.json"), id=n, number=str(n))
        response = post_woocommerce(client, "order.created", compact(payload), delivery_id=str(n))
        assert response.status_code == 200, response.content

    result = batches.apply_batch(50)

    assert written == [2] and result.statuses == {WebhookDelivery.Status.PROCESSED: 2}
    states = sorted(OrderLine.objects.filter(order__number="727").values_list("sku", "state", "allocated"))
    assert states == [("", "allocated", 2), ("Bar3", "backordered", 0)]
    assert set(Order.objects.values_list("channel", flat=True)) == {"woocommerce"}
    assert Customer.objects.filter(email="john.doe@example.com").count() == 1


# --------------------------------------------------------------------------- edits of kept orders


def edited(n: int, *, minute: int = 30, email: str = "jon@example.com", **changes) -> dict:
    """Order ``n`` as ``new_order`` makes it, edited at ``minute``: a new address, totals, payment
    state and line title and price; no line added, removed, shipped or given another quantity."""
    payload = new_order(n, email=email, minute=minute, **changes)
    payload["shipping_address"] = {
        **payload["shipping_address"],
        "name": "Ann Office",
        "city": "Lexington",
        "zip": "40507",
    }
    payload.update(total_price="401.50", current_total_price="401.50", financial_status="partially_refunded")
    for line in payload["line_items"]:
        line.update(title="IPod Nano - 8GB (pink)", price="189.00")
    return payload


def kept_orders(client, numbers) -> None:
    for n in numbers:
        store(client, "orders/create", new_order(n), f"create-{n}")
    batches.apply_batch(50)


ORDER_FIELDS = (
    "total",
    "subtotal",
    "payment_state",
    "shipping_name",
    "shipping_city",
    "shipping_postal_code",
    "status",
    "channel_updated_at",
    "customer__email",
)
LINE_FIELDS = ("sku", "title", "unit_price", "quantity", "allocated", "state")


def order_state(number: str) -> tuple:
    order = Order.objects.filter(number=number).values(*ORDER_FIELDS).get()
    lines = list(OrderLine.objects.filter(order__number=number).order_by("external_id").values_list(*LINE_FIELDS))
    return tuple(order.values()), lines


def test_edits_moving_no_stock_are_written_together_and_match_one_by_one(client, monkeypatch):
    from backorders.intake import batch_orders
    from backorders.tasks import process_delivery

    seed_catalog(client)
    kept_orders(client, [1, 2, 3, 11, 12, 13])
    before = Order.objects.get(number="#B1").updated_at
    written: list[int] = []
    real_write = batch_orders.write
    monkeypatch.setattr(batch_orders, "write", lambda run, *args: written.append(len(run)) or real_write(run, *args))
    # the same edits for two sets of orders: one set in a batch, the other one delivery at a time
    for n in (1, 2, 3):
        email = "ann@example.com" if n == 2 else "jon@example.com"  # #B2 changes hands
        store(client, "orders/updated", edited(n, email=email), f"edit-{n}")
    stale = store(client, "orders/updated", edited(11, minute=5), "edit-stale")  # older than the kept version

    result = batches.apply_batch(50)

    assert written == [3]  # the stale one went one by one
    assert result.statuses == {WebhookDelivery.Status.PROCESSED: 3, WebhookDelivery.Status.IGNORED: 1}
    stale.refresh_from_db()
    assert stale.error == "a newer version of this order is already kept"
    singles = [
        store(client, "orders/updated", edited(n, email="ann@example.com" if n == 12 else "jon@example.com"), f"e-{n}")
        for n in (12, 13)
    ]
    for delivery in singles:
        assert process_delivery(delivery.pk) == WebhookDelivery.Status.PROCESSED
    assert written == [3]
    for batched, single in ((2, 12), (3, 13)):
        assert order_state(f"#B{batched}") == order_state(f"#B{single}")
    state, lines = order_state("#B3")
    assert state[:6] == (Decimal("401.50"), Decimal("398.00"), "partially_refunded", "Ann Office", "Lexington", "40507")
    assert {line[:3] for line in lines} == {("IPOD2008PINK", "IPod Nano - 8GB (pink)", Decimal("189.00"))}
    assert Order.objects.get(number="#B2").customer.email == "ann@example.com"
    assert Order.objects.get(number="#B1").updated_at > before
    # the stock did not move: the same lines hold the same units
    assert sorted(OrderLine.objects.filter(order__number="#B1").values_list("state", "allocated")) == [
        ("allocated", 1),
        ("allocated", 1),
    ]
    for n, delivery_id in ((1, "edit-1"), (12, "e-12")):
        delivery = WebhookDelivery.objects.get(delivery_id=delivery_id)
        assert (delivery.status, delivery.error, delivery.attempts) == ("processed", f"order #B{n}", 1)
        assert delivery.resource_id == f"order:{7_000_000 + n}"


def test_a_batch_of_edits_costs_the_same_statements_whatever_its_size(client):
    seed_catalog(client)
    kept_orders(client, range(1, 34))

    def statements(numbers) -> int:
        for n in numbers:
            store(client, "orders/updated", edited(n), f"edit-{n}")
        with CaptureQueriesContext(connection) as ctx:
            result = batches.apply_batch(50)
        assert result.statuses == {WebhookDelivery.Status.PROCESSED: len(numbers)}
        return len(ctx.captured_queries)

    assert statements(range(1, 4)) == statements(range(4, 34))
    assert set(Order.objects.filter(number__in=["#B1", "#B33"]).values_list("shipping_city", flat=True)) == {
        "Lexington"
    }


def test_edits_that_give_stock_back_or_cancel_still_go_one_by_one(client, monkeypatch):
    from backorders.intake import batch_orders

    product = seed_catalog(client)
    Product.objects.filter(pk=product.pk).update(on_hand=100)
    kept_orders(client, [1, 2, 3, 4])
    store(client, "orders/updated", new_order(4, quantity=3, minute=20), "raise-4")
    batches.apply_batch(50)
    written: list[int] = []
    real_write = batch_orders.write
    monkeypatch.setattr(batch_orders, "write", lambda run, *args: written.append(len(run)) or real_write(run, *args))
    store(client, "orders/updated", edited(1, quantity=2), "more")  # raised: written together
    cancelled = edited(2)
    cancelled.update(cancelled_at="2026-09-03T10:30:00-04:00", cancel_reason="customer")
    store(client, "orders/cancelled", cancelled, "cancel")
    store(client, "orders/updated", edited(3), "plain")
    store(client, "orders/updated", edited(4, quantity=1), "fewer")  # lowered: units go back

    result = batches.apply_batch(50)

    assert result.statuses == {WebhookDelivery.Status.PROCESSED: 4}
    assert written == [1, 1]  # the raise, then (after the cancellation) the plain edit
    assert sorted(OrderLine.objects.filter(order__number="#B1").values_list("quantity", "allocated")) == [(2, 2)] * 2
    assert Order.objects.get(number="#B2").status == "cancelled"
    assert set(OrderLine.objects.filter(order__number="#B2").values_list("allocated", flat=True)) == {0}
    assert sorted(OrderLine.objects.filter(order__number="#B4").values_list("quantity", "allocated")) == [(1, 1)] * 2
    product.refresh_from_db()
    assert product.allocated == OrderLine.objects.filter(product=product).aggregate(n=Sum("allocated"))["n"]


def test_a_raised_line_takes_its_stock_in_arrival_order(client, monkeypatch):
    """A new order before the edit is served first, one after it is served after, as one delivery
    after another would be, though the raised line belongs to an older order."""
    from backorders.intake import batch_orders

    product = seed_catalog(client)
    # #B900's two lines wait (entitled to 2 units first); #B1 holds 2; 7 on hand leaves 3 free
    kept_orders(client, [1])
    Product.objects.filter(pk=product.pk).update(on_hand=7)
    written: list[int] = []
    real_write = batch_orders.write
    monkeypatch.setattr(batch_orders, "write", lambda run, *args: written.append(len(run)) or real_write(run, *args))
    store(client, "orders/create", new_order(2, email="b2@example.com"), "new-2")  # wants 2
    store(client, "orders/updated", edited(1, quantity=2), "raise-1")  # wants 2 more
    store(client, "orders/create", new_order(3, email="b3@example.com"), "new-3")  # wants 2

    result = batches.apply_batch(50)

    assert written == [3] and result.statuses == {WebhookDelivery.Status.PROCESSED: 3}
    held = dict(
        Order.objects.filter(number__in=["#B1", "#B2", "#B3"])
        .annotate(units=Sum("lines__allocated"))
        .values_list("number", "units")
    )
    assert held == {"#B2": 2, "#B1": 3, "#B3": 0}
    product.refresh_from_db()
    # #B900's two waiting lines keep their claim on 2 of the 5 units not held: 3 were free
    assert (product.on_hand, product.allocated) == (7, 5)
    raised = StockAllocation.objects.filter(kind="sale", reference="#B1").order_by("pk").last()
    assert raised.applied_units == 1
