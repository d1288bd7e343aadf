"""Out of order heals itself: a delivery that came before what it needs waits, and is applied when
that arrives (or on its backoff schedule), with no replay by a person."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from backorders.models import Order, Product, Shipment, WebhookDelivery
from backorders.tasks import process_delivery, retry_waiting
from tests import factories
from tests.backorders.intake_samples import INTAKE_SETTINGS, compact, post_shopify, sample

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 9, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.GENERIC_WEBHOOK_SECRET = GENERIC_SECRET


@pytest.fixture
def worker_inline(settings):
    """Queued tasks run at once, as a worker would pick them up (the queue itself is not under test)."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}


def status(webhook_id: str) -> str:
    return WebhookDelivery.objects.get(delivery_id=webhook_id).status


def open_order() -> bytes:
    payload = sample("shopify-orders-create.json")
    payload.update(cancelled_at=None, cancel_reason=None, financial_status="paid")
    payload.update(created_at="2026-09-03T10:00:00-04:00", updated_at="2026-09-03T10:15:00-04:00")
    return compact(payload)


def post_generic(client, fact_type: str, data: dict, webhook_id: str):
    from standardwebhooks import Webhook

    now = datetime.now(UTC)
    body = json.dumps({"type": fact_type, "timestamp": now.isoformat(), "data": data})
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(GENERIC_SECRET).sign(msg_id=webhook_id, timestamp=now, data=body),
    }
    return client.post("/webhooks/generic/", body, content_type="application/json", headers=headers)


def test_a_fulfilment_and_its_scan_before_their_order_are_applied_when_the_order_arrives(client, worker_inline):
    factories.ProductFactory(sku="IPOD2008PINK", shopify_variant_id="808950810", on_hand=5)
    post_shopify(
        client,
        "fulfillment_events/create",
        compact(sample("shopify-fulfillment_events-create.json")),
        webhook_id="w-scan",
    )
    post_shopify(
        client, "fulfillments/create", compact(sample("shopify-fulfillments-create.json")), webhook_id="w-ship"
    )
    assert (status("w-scan"), status("w-ship")) == ("waiting", "waiting")
    order_id = sample("shopify-orders-create.json")["id"]
    assert WebhookDelivery.objects.get(delivery_id="w-ship").waiting_for == f"order:shopify:{order_id}"

    post_shopify(client, "orders/create", open_order(), webhook_id="w-order")

    # the order woke the fulfilment; the fulfilment's shipment woke the scan: no replay, no schedule
    assert [status(w) for w in ("w-order", "w-ship", "w-scan")] == ["processed"] * 3
    shipment = Shipment.objects.get()
    assert shipment.order == Order.objects.get() and shipment.status == "in_transit"
    assert WebhookDelivery.objects.get(delivery_id="w-scan").waiting_for == ""


def test_a_stock_level_for_a_product_added_by_hand_is_applied_on_its_backoff_schedule(client, settings):
    with time_machine.travel(NOW, tick=False):
        post_generic(client, "stock_level", {"sku": "KETTLE-9", "on_hand": 7}, "msg-count")
        delivery = WebhookDelivery.objects.get()
        assert process_delivery(delivery.pk) == "waiting"
        delivery.refresh_from_db()
        assert (delivery.waiting_for, delivery.retry_at) == ("sku:KETTLE-9", NOW + timedelta(seconds=60))
        assert "no product has SKU 'KETTLE-9' yet" in delivery.error
        assert retry_waiting() == 0  # not due yet
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        assert retry_waiting() == 1  # due, still missing: waits twice as long
        delivery.refresh_from_db()
        assert delivery.status == "waiting" and delivery.retry_at == NOW + timedelta(seconds=61 + 120)
        factories.ProductFactory(sku="KETTLE-9", on_hand=0)  # the owner adds it in the admin
    with time_machine.travel(NOW + timedelta(seconds=182), tick=False):
        assert retry_waiting() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("processed", 3)
    assert Product.objects.get(sku="KETTLE-9").on_hand == 7


def test_a_delivery_whose_fact_never_comes_fails_with_its_reason_after_the_longest_wait(client, settings):
    settings.INTAKE_WAIT_MAX_HOURS = 2
    with time_machine.travel(NOW, tick=False):
        post_generic(client, "tracking", {"order_id": "SO-404", "tracking_number": "1Z404"}, "msg-label")
        delivery = WebhookDelivery.objects.get()
        process_delivery(delivery.pk)
    with time_machine.travel(NOW + timedelta(hours=2, minutes=1), tick=False):
        assert retry_waiting() == 1
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.retry_at is None
    assert "generic order 'SO-404' is not known yet" in delivery.error and "waiting 2 hours" in delivery.error
    call_command("replay_webhooks", "--failed", verbosity=0)  # a person can still replay it
    assert WebhookDelivery.objects.get().status == "failed"


def test_a_stock_level_for_a_sku_a_csv_import_brings_is_applied_after_the_import(client, worker_inline):
    from backorders.models import ImportJob
    from backorders.tasks import process_import
    from tests.backorders.test_csv_imports import first_row, orders_csv

    post_generic(client, "stock_level", {"sku": "CSV-NEW", "on_hand": 3}, "msg-count")
    assert status("msg-count") == "waiting"
    job = ImportJob.objects.create(
        kind="orders", filename="orders.csv", content=orders_csv([first_row("#9001", "CSV-NEW")])
    )
    assert process_import(job.pk) == "done"
    assert status("msg-count") == "processed"
    product = Product.objects.get(sku="CSV-NEW")
    assert (product.on_hand, product.allocated) == (3, 1)  # the imported order's line got its unit


def test_the_schedule_tries_waiting_deliveries_every_minute(db):
    from packets.schedules import SCHEDULES

    declared = {s.name: s for s in SCHEDULES}["intake.retry_waiting"]
    assert (declared.func, declared.minutes) == ("backorders.tasks.retry_waiting", 1)
