"""Generic intake: signed deliveries from systems with no native adapter.

Deliveries are signed the way a sender would, with the ``standardwebhooks`` library.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from backorders.intake import generic
from backorders.intake.outcome import Outcome
from backorders.models import Order, Shipment, WebhookDelivery
from backorders.tasks import process_delivery
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "/webhooks/generic/"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def generic_settings(settings):
    settings.GENERIC_WEBHOOK_SECRET = SECRET
    settings.INTAKE_FOLLOWUP_TASK = ""


def post(client, fact_type: str, data: dict, *, webhook_id="msg_1", at=None, secret=SECRET, tamper=None):
    from standardwebhooks import Webhook

    body = json.dumps({"type": fact_type, "timestamp": (at or NOW).isoformat(), "data": data})
    signature = Webhook(secret).sign(msg_id=webhook_id, timestamp=at or NOW, data=body)
    sent = tamper(body) if tamper else body
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int((at or NOW).timestamp())),
        "webhook-signature": signature,
    }
    return client.post(URL, sent, content_type="application/json", headers=headers)


ORDER = {
    "id": "SO-1042",
    "number": "#M1042",
    "placed_at": "2026-03-01T10:00:00Z",
    "updated_at": "2026-03-01T10:05:00Z",
    "status": "open",
    "payment_state": "paid",
    "currency": "USD",
    "subtotal": "40.00",
    "total": "45.50",
    "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
    "shipping": {"city": "Portland", "region": "OR", "postal_code": "97201", "country": "US"},
    "lines": [{"id": "L1", "sku": "MUG-BLUE", "title": "Blue Mug", "quantity": 2, "unit_price": "20.00"}],
}


@time_machine.travel(NOW + timedelta(seconds=20), tick=False)
def test_it_applies_a_signed_order_through_the_shared_upsert(client):
    factories.ProductFactory(sku="MUG-BLUE", on_hand=1)

    response = post(client, "order", ORDER)

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert (delivery.source, delivery.topic, delivery.delivery_id) == ("generic", "order", "msg_1")
    assert process_delivery(delivery.pk) == "processed"
    order = Order.objects.get(channel="generic", external_id="SO-1042")
    [line] = order.lines.all()
    assert order.number == "#M1042" and order.customer.email == "ada@example.com"
    assert (line.quantity, line.allocated, line.state) == (2, 1, "partial")


@time_machine.travel(NOW + timedelta(seconds=20), tick=False)
def test_it_keeps_a_repeated_webhook_id_as_a_duplicate(client):
    assert post(client, "order", ORDER).json()["duplicate"] is False
    assert post(client, "order", ORDER).json()["duplicate"] is True
    assert list(WebhookDelivery.objects.order_by("pk").values_list("status", flat=True)) == ["received", "duplicate"]


@time_machine.travel(NOW + timedelta(seconds=20), tick=False)
def test_it_refuses_a_tampered_delivery_and_keeps_it(client):
    response = post(client, "order", ORDER, tamper=lambda body: body.replace("45.50", "0.01"))
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "rejected" and not delivery.signature_valid
    assert delivery.error == "signature check failed: No matching signature found"
    # kept as a record of the attempt: headers, size and hash, not the stranger's body
    assert bytes(delivery.body) == b"" and delivery.body_size > 0 and len(delivery.body_sha256) == 64


@time_machine.travel(NOW + timedelta(minutes=6), tick=False)
def test_it_refuses_a_delivery_signed_more_than_five_minutes_ago(client):
    response = post(client, "order", ORDER)
    assert response.status_code == 401
    assert WebhookDelivery.objects.get().error == "signature check failed: Message timestamp too old"


@time_machine.travel(NOW, tick=False)
def test_it_refuses_the_wrong_secret_missing_headers_and_an_unset_secret(client, settings):
    other = "whsec_" + "A" * 32
    assert post(client, "order", ORDER, secret=other).status_code == 401
    assert client.post(URL, "{}", content_type="application/json").status_code == 401
    settings.GENERIC_WEBHOOK_SECRET = ""
    response = post(client, "order", ORDER, webhook_id="msg_2")
    assert response.status_code == 401 and b"GENERIC_WEBHOOK_SECRET is not set" in response.content
    assert WebhookDelivery.objects.filter(status="rejected").count() == 3


@time_machine.travel(NOW, tick=False)
def test_it_answers_422_for_an_unknown_type_and_for_supplier_updates_nobody_handles(client, monkeypatch):
    monkeypatch.setattr(generic, "_REGISTERED", {})  # as if the suppliers app had not registered
    response = post(client, "invoice", {"id": 1})
    assert response.status_code == 422
    assert response.json()["accepted_types"] == ["order", "stock_level", "tracking"]

    response = post(client, "supplier_update", {"supplier": "acme"}, webhook_id="msg_2")
    assert response.status_code == 422 and "no supplier-update handler is registered" in response.json()["error"]
    kept = WebhookDelivery.objects.get(topic="supplier_update")
    assert kept.status == "rejected" and kept.signature_valid


@time_machine.travel(NOW, tick=False)
def test_it_hands_supplier_updates_to_the_handler_the_suppliers_side_registers(client, monkeypatch):
    seen = []
    monkeypatch.setattr(generic, "_REGISTERED", {})
    generic.register("supplier_update", lambda delivery, data: seen.append(data) or Outcome(note="noted"))

    assert post(client, "supplier_update", {"supplier": "acme", "sku": "MUG-BLUE"}).status_code == 200
    assert process_delivery(WebhookDelivery.objects.get().pk) == "processed"
    assert seen == [{"supplier": "acme", "sku": "MUG-BLUE"}]


@time_machine.travel(NOW, tick=False)
def test_it_counts_stock_and_allocates_the_rise(client):
    product = factories.ProductFactory(sku="MUG-BLUE", on_hand=0)
    line = factories.OrderLineFactory(product=product, quantity=2, state="backordered")

    post(client, "stock_level", {"sku": "MUG-BLUE", "on_hand": 5, "updated_at": "2026-03-02T14:59:00Z"})
    assert process_delivery(WebhookDelivery.objects.get().pk) == "processed"

    product.refresh_from_db()
    line.refresh_from_db()
    assert (product.on_hand, product.allocated, line.allocated) == (5, 2, 2)


@time_machine.travel(NOW, tick=False)
def test_it_records_tracking_events_for_a_known_order(client):
    order = factories.OrderFactory(channel="generic", external_id="SO-1042")
    data = {
        "order_id": "SO-1042",
        "carrier": "UPS",
        "tracking_number": "1Z999",
        "events": [
            {"status": "accepted", "raw_status": "Origin Scan", "occurred_at": "2026-03-02T08:00:00Z"},
            {"status": "teleported", "occurred_at": "2026-03-02T09:00:00Z", "location": "Portland, OR"},
        ],
    }
    post(client, "tracking", data)
    assert process_delivery(WebhookDelivery.objects.get().pk) == "processed"
    shipment = Shipment.objects.get(order=order)
    assert list(shipment.events.values_list("status", "raw_status")) == [
        ("accepted", "Origin Scan"),
        ("unknown", "teleported"),
    ]


@time_machine.travel(NOW, tick=False)
def test_it_keeps_a_fact_for_an_unknown_order_waiting_and_a_replay_applies_it(client):
    post(client, "tracking", {"order_id": "SO-404", "tracking_number": "1Z1"})
    delivery = WebhookDelivery.objects.get()
    assert process_delivery(delivery.pk) == "waiting"
    delivery.refresh_from_db()
    assert "generic order 'SO-404' is not known yet" in delivery.error

    factories.OrderFactory(channel="generic", external_id="SO-404")
    from django.core.management import call_command

    call_command("replay_webhooks", "--failed", verbosity=0)
    delivery.refresh_from_db()
    assert delivery.status == "processed"


@time_machine.travel(NOW, tick=False)
def test_it_reads_a_supplier_update_as_evidence_through_the_suppliers_app(client):
    supplier = factories.SupplierFactory(name="Acme Mugs", code="acme")
    factories.ProductFactory(sku="MUG-BLUE")
    data = {"supplier": "acme", "sku": "MUG-BLUE", "stock_status": "out_of_stock", "restock_estimate": "2026-04-01"}
    assert post(client, "supplier_update", data).status_code == 200
    assert process_delivery(WebhookDelivery.objects.get().pk) == "processed"
    update = supplier.updates.get()
    assert update.product.sku == "MUG-BLUE" and update.stock_status == "out_of_stock"
    assert update.restock_from is not None and "2026-04-01" in update.source_text

    post(client, "supplier_update", {"supplier": "nobody", "text": "all good"}, webhook_id="msg_9")
    failed = WebhookDelivery.objects.get(delivery_id="msg_9")
    assert process_delivery(failed.pk) == "failed"
    failed.refresh_from_db()
    assert "no supplier has the code or name 'nobody'" in failed.error


@time_machine.travel(NOW + timedelta(seconds=20), tick=False)
def test_it_answers_a_correctly_signed_body_that_is_not_utf8_with_the_json_error(client):
    import base64
    import hashlib
    import hmac

    body = '{"type": "order", "data": {"id": "caf\xe9"}}'.encode("latin-1")  # é as one byte: not UTF-8
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    stamp = str(int(NOW.timestamp()))
    signed = b"msg_latin1." + stamp.encode() + b"." + body
    signature = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers = {"webhook-id": "msg_latin1", "webhook-timestamp": stamp, "webhook-signature": signature}

    response = client.post(URL, body, content_type="application/json", headers=headers)

    assert response.status_code == 400, response.content
    assert b"not valid JSON" in response.content
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.REJECTED and delivery.signature_valid
    assert "not valid JSON" in delivery.error and "malformed" not in delivery.error
