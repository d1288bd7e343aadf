"""The worker applies stored deliveries in batches on real PostgreSQL connections.

A bad delivery rolls back only its own savepoint and is kept as failed; deliveries of one order
are applied in arrival order and never by two workers at once; two workers draining the same
deliveries together apply each exactly once.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from backorders.intake import batches
from backorders.models import Order, OrderLine, WebhookDelivery
from backorders.tasks import process_pending
from tests.backorders.intake_samples import INTAKE_SETTINGS, compact, post_shopify, sample

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.INTAKE_BATCH_SIZE = 4


def order_payload(n: int, *, minute: int = 15, quantity: int = 1) -> dict:
    payload = sample("shopify-orders-create.json")
    payload.update({"cancelled_at": None, "cancel_reason": None, "financial_status": "paid"})
    payload.update(
        id=7_000_000 + n,
        name=f"#B{n}",
        created_at="2026-09-03T10:00:00-04:00",
        updated_at=f"2026-09-03T10:{minute:02d}:00-04:00",
    )
    for i, line in enumerate(payload["line_items"]):
        line["id"] = 8_000_000 + n * 10 + i
        line["quantity"] = quantity
    return payload


def store(client, topic: str, payload: dict, webhook_id: str) -> WebhookDelivery:
    """Post a signed delivery; the worker has not run (the queue keeps the task), so it stays received."""
    response = post_shopify(client, topic, compact(payload), webhook_id=webhook_id)
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.status == WebhookDelivery.Status.RECEIVED
    return delivery


def test_a_bad_delivery_fails_alone_and_its_batch_commits(client):
    good = store(client, "orders/create", order_payload(1), "w-1")
    # a quantity beyond the column's range: PostgreSQL refuses the insert inside the batch's transaction
    too_large = store(client, "orders/create", order_payload(2, quantity=10**12), "w-2")
    not_a_list = order_payload(3)
    not_a_list["line_items"] = "none"
    unmappable = store(client, "orders/create", not_a_list, "w-3")
    later = store(client, "orders/create", order_payload(4), "w-4")

    totals = process_pending()

    statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert statuses[good.pk] == statuses[later.pk] == WebhookDelivery.Status.PROCESSED
    assert statuses[too_large.pk] == statuses[unmappable.pk] == WebhookDelivery.Status.FAILED
    assert set(Order.objects.values_list("number", flat=True)) == {"#B1", "#B4"}
    kept = WebhookDelivery.objects.get(pk=too_large.pk)
    assert kept.error and bytes(kept.body) == compact(order_payload(2, quantity=10**12))  # kept for replay
    assert WebhookDelivery.objects.get(pk=unmappable.pk).error
    assert totals == {WebhookDelivery.Status.PROCESSED: 2, WebhookDelivery.Status.FAILED: 2}


def test_deliveries_of_one_order_are_applied_in_arrival_order(client):
    stored = [
        store(client, "orders/create", order_payload(1, quantity=1, minute=10), "w-1"),
        store(client, "orders/create", order_payload(2), "w-2"),
        store(client, "orders/updated", order_payload(1, quantity=2, minute=20), "w-3"),
        store(client, "orders/updated", order_payload(1, quantity=3, minute=30), "w-4"),
    ]
    process_pending()
    applied = list(WebhookDelivery.objects.filter(pk__in=[d.pk for d in stored]).order_by("processed_at"))
    assert [d.pk for d in applied if d.pk != stored[1].pk] == [stored[0].pk, stored[2].pk, stored[3].pk]
    assert {d.status for d in applied} == {WebhookDelivery.Status.PROCESSED}
    assert set(Order.objects.get(number="#B1").lines.values_list("quantity", flat=True)) == {3}


def test_a_worker_leaves_an_order_another_worker_is_applying(client):
    first = store(client, "orders/create", order_payload(1, minute=10), "w-1")
    same_order = store(client, "orders/updated", order_payload(1, quantity=2, minute=20), "w-2")
    other = store(client, "orders/create", order_payload(2), "w-3")
    holding, release = threading.Event(), threading.Event()
    seen: dict[str, list[int]] = {}

    def first_worker():
        try:
            with transaction.atomic():
                claimed, _ = batches.claim(1)
                seen["first"] = [d.pk for d in claimed]
                holding.set()
                release.wait(timeout=15)
        finally:
            connection.close()

    thread = threading.Thread(target=first_worker)
    thread.start()
    assert holding.wait(timeout=15)
    try:
        with transaction.atomic():
            claimed, left = batches.claim(10)
            # the first delivery is being applied by the other worker; the update of the same order waits for it
            assert [d.pk for d in claimed] == [other.pk] and left == 2
    finally:
        release.set()
        thread.join(timeout=15)
    assert seen["first"] == [first.pk]
    with transaction.atomic():
        claimed, left = batches.claim(10)
        assert [d.pk for d in claimed] == [first.pk, same_order.pk, other.pk] and left == 0


def test_two_workers_apply_every_delivery_once(client):
    stored = []
    for n in range(12):
        stored.append(store(client, "orders/create", order_payload(n, quantity=1, minute=10), f"c-{n}"))
    for n in range(12):
        stored.append(store(client, "orders/updated", order_payload(n, quantity=2, minute=20), f"u-{n}"))
    start = threading.Barrier(2)
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def worker(name: str):
        try:
            start.wait(timeout=10)
            results[name] = process_pending()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sum(sum(r.values()) for r in results.values()) == len(stored)
    deliveries = WebhookDelivery.objects.filter(pk__in=[d.pk for d in stored])
    assert set(deliveries.values_list("status", flat=True)) == {WebhookDelivery.Status.PROCESSED}
    assert set(deliveries.values_list("attempts", flat=True)) == {1}
    assert Order.objects.count() == 12
    assert set(OrderLine.objects.values_list("quantity", flat=True)) == {2}
