"""Carrier webhooks: AfterShip, EasyPost and Shippo, verified and normalized, events kept once."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import random
import time
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from backorders.models import Shipment, TrackingEvent, WebhookDelivery
from backorders.tasks import process_delivery
from config.logging import RedactSecrets
from tests import factories
from tests.backorders.intake_samples import (
    AFTERSHIP_SECRET,
    INTAKE_SETTINGS,
    SHIPPO_HMAC_SECRET,
    SHIPPO_TOKEN,
    b64_hmac,
    compact,
    sample,
    sample_bytes,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# EasyPost's published signature for its event fixture (without the file's trailing newline)
EASYPOST_SIGNATURE = "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)


def process(response) -> WebhookDelivery:
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    if delivery.status == WebhookDelivery.Status.RECEIVED:
        process_delivery(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def aftership_body(checkpoints=None) -> bytes:
    tracking = sample("aftership-tracking-get-fedex-delivered.json")["data"]["tracking"]
    if checkpoints is not None:
        tracking["checkpoints"] = checkpoints
    # AfterShip's webhook envelope: the tracking object rides under msg
    return compact(
        {"event": "tracking_update", "event_id": "", "is_tracking_first_tag": False, "msg": tracking, "ts": 1532487000}
    )


def post_aftership(client, body: bytes):
    return client.post(
        "/webhooks/carriers/aftership/",
        data=body,
        content_type="application/json",
        headers={"aftership-hmac-sha256": b64_hmac(AFTERSHIP_SECRET, body)},
    )


def post_shippo(client, body: bytes, token=SHIPPO_TOKEN):
    return client.post(f"/webhooks/carriers/shippo/?token={token}", data=body, content_type="application/json")


def test_it_verifies_easypost_with_the_published_signature(client):
    shipment = factories.ShipmentFactory(tracking_number="1", carrier="")
    body = sample_bytes("easypost-event-tracker-updated.json").rstrip(b"\n")
    response = client.post(
        "/webhooks/carriers/easypost/",
        data=body,
        content_type="application/json",
        headers={"X-Hmac-Signature": EASYPOST_SIGNATURE},
    )
    delivery = process(response)
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error
    assert (delivery.topic, delivery.delivery_id) == ("tracker.updated", "evt_1")
    shipment.refresh_from_db()
    assert shipment.status == "in_transit" and shipment.raw_status == "in_transit" and shipment.carrier == "FedEx"
    assert shipment.first_scan_at == datetime(2024, 7, 31, 19, 27, tzinfo=UTC)  # "Picked up"
    assert shipment.last_scan_at == datetime(2024, 8, 2, 18, 50, tzinfo=UTC)
    assert shipment.delivered_at is None
    first = shipment.events.order_by("occurred_at").first()
    assert (first.status, first.raw_status, first.raw_substatus) == ("label_created", "pre_transit", "label_created")
    assert shipment.events.count() == 7


def test_it_rejects_easypost_with_a_wrong_signature(client):
    body = sample_bytes("easypost-event-tracker-updated.json").rstrip(b"\n")
    response = client.post(
        "/webhooks/carriers/easypost/",
        data=body + b" ",
        content_type="application/json",
        headers={"X-Hmac-Signature": EASYPOST_SIGNATURE},
    )
    assert response.status_code == 401
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.REJECTED


def test_it_maps_aftership_tags_and_subtags(client):
    shipment = factories.ShipmentFactory(tracking_number="111111111111")
    delivery = process(post_aftership(client, aftership_body()))
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error
    shipment.refresh_from_db()
    assert shipment.status == "delivered" and shipment.raw_status == "Delivered"
    assert shipment.delivered_at == datetime(2018, 7, 25, 1, 10, tzinfo=UTC)
    assert shipment.first_scan_at == datetime(2018, 7, 23, 8, 58, tzinfo=UTC)  # InTransit_002, acceptance scan
    statuses = list(shipment.events.order_by("occurred_at", "pk").values_list("status", flat=True))
    assert statuses[:2] == ["label_created", "accepted"] and "out_for_delivery" in statuses


def test_it_rejects_aftership_with_a_wrong_signature(client):
    response = client.post(
        "/webhooks/carriers/aftership/",
        data=aftership_body(),
        content_type="application/json",
        headers={"aftership-hmac-sha256": "x"},
    )
    assert response.status_code == 401


def test_it_keeps_each_scan_once_whatever_the_order_and_repeats(client):
    """Partial histories arrive shuffled and three times each; the result is the full history's."""
    shipment = factories.ShipmentFactory(tracking_number="111111111111")
    checkpoints = sample("aftership-tracking-get-fedex-delivered.json")["data"]["tracking"]["checkpoints"]
    process(post_aftership(client, aftership_body()))
    expected = sorted(
        TrackingEvent.objects.values_list("occurred_at", "status", "raw_status", "raw_substatus", "location")
    )
    shipment.refresh_from_db()
    expected_shipment = (shipment.status, shipment.first_scan_at, shipment.last_scan_at, shipment.delivered_at)
    TrackingEvent.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    bodies = [aftership_body(checkpoints[:n]) for n in range(1, len(checkpoints) + 1)] * 3
    random.Random(7).shuffle(bodies)
    for body in bodies:
        process(post_aftership(client, body))
    shipment.refresh_from_db()
    assert (
        sorted(TrackingEvent.objects.values_list("occurred_at", "status", "raw_status", "raw_substatus", "location"))
        == expected
    )
    assert (shipment.status, shipment.first_scan_at, shipment.last_scan_at, shipment.delivered_at) == expected_shipment


def test_it_maps_a_shippo_track_with_the_url_token(client):
    shipment = factories.ShipmentFactory(tracking_number="9205590164917337534322")
    track = sample("shippo-track-usps-delivered.json")
    delivery = process(post_shippo(client, compact({"event": "track_updated", "test": False, "data": track})))
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error
    shipment.refresh_from_db()
    assert shipment.status == "delivered" and shipment.delivered_at == datetime(2016, 12, 8, 15, 19, tzinfo=UTC)
    assert shipment.first_scan_at == datetime(2016, 12, 7, 19, 4, tzinfo=UTC)  # the first TRANSIT scan
    assert shipment.events.filter(status="unknown", raw_status="UNKNOWN").count() == 2
    assert shipment.events.count() == 11  # the current status repeats the last history entry


def test_it_rejects_shippo_without_the_token(client):
    body = compact({"event": "track_updated", "data": sample("shippo-track-usps-delivered.json")})
    assert post_shippo(client, body, token="guess").status_code == 401
    assert client.post("/webhooks/carriers/shippo/", data=body, content_type="application/json").status_code == 401


def shippo_signature(body: bytes, *, secret: str = SHIPPO_HMAC_SECRET, at: int | None = None) -> str:
    """``Shippo-Auth-Signature`` as Shippo sends it: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``."""
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def post_signed_shippo(client, body: bytes, signature: str):
    return client.post(
        "/webhooks/carriers/shippo/",
        data=body,
        content_type="application/json",
        headers={"Shippo-Auth-Signature": signature},
    )


def test_it_verifies_shippos_hmac_signature_without_a_token(client):
    factories.ShipmentFactory(tracking_number="9205590164917337534322")
    body = compact({"event": "track_updated", "data": sample("shippo-track-usps-delivered.json")})
    delivery = process(post_signed_shippo(client, body, shippo_signature(body)))
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error
    assert Shipment.objects.get().status == "delivered"


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda body: shippo_signature(body + b" "), id="other-bytes"),
        pytest.param(lambda body: shippo_signature(body, secret="guess"), id="other-key"),
        pytest.param(lambda body: shippo_signature(body, at=int(time.time()) - 301), id="older-than-5-minutes"),
        pytest.param(lambda body: shippo_signature(body, at=int(time.time()) + 301), id="from-the-future"),
        pytest.param(lambda body: "v1=" + shippo_signature(body).split("v1=")[1], id="no-timestamp"),
        pytest.param(lambda body: shippo_signature(body).split(",")[0], id="no-v1"),
        pytest.param(lambda body: "garbage", id="garbage"),
    ],
)
def test_it_refuses_a_bad_shippo_signature_even_with_the_right_token(client, signature):
    body = compact({"event": "track_updated", "data": sample("shippo-track-usps-delivered.json")})
    response = client.post(
        f"/webhooks/carriers/shippo/?token={SHIPPO_TOKEN}",
        data=body,
        content_type="application/json",
        headers={"Shippo-Auth-Signature": signature(body)},
    )
    assert response.status_code == 401
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.REJECTED


def test_it_refuses_a_shippo_signature_when_no_hmac_key_is_set(client, settings):
    settings.SHIPPO_WEBHOOK_HMAC_SECRET = ""
    body = compact({"event": "track_updated", "data": sample("shippo-track-usps-delivered.json")})
    assert post_signed_shippo(client, body, shippo_signature(body)).status_code == 401
    settings.SHIPPO_WEBHOOK_SECRET = ""
    response = post_shippo(client, body)
    assert response.status_code == 401
    assert "SHIPPO_WEBHOOK_HMAC_SECRET or SHIPPO_WEBHOOK_SECRET is not set" in response.content.decode()


def test_it_never_writes_the_shippo_token_to_the_products_logs(client):
    """The configured console handler (and so the development server's request lines, which go to
    it too) writes a secret query parameter as [redacted]."""
    [console] = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
    assert console in logging.getLogger("django.server").handlers
    written = io.StringIO()
    previous = console.setStream(written)
    try:
        logging.getLogger("django.server").info('"POST /webhooks/carriers/shippo/?token=%s HTTP/1.1" 200', SHIPPO_TOKEN)
        post_shippo(client, compact({"event": "track_updated", "data": {}}), token=SHIPPO_TOKEN + "-wrong")
        logging.getLogger("backorders.intake").warning("retry of /webhooks/carriers/shippo/?token=%s", SHIPPO_TOKEN)
    finally:
        console.setStream(previous)
    lines = written.getvalue()
    assert "shippo/?token=[redacted] HTTP/1.1" in lines and "Rejected shippo delivery" in lines
    assert "retry of /webhooks/carriers/shippo/?token=[redacted]" in lines
    assert SHIPPO_TOKEN not in lines


def test_it_has_no_endpoint_for_an_unknown_provider(client):
    assert client.post("/webhooks/carriers/nosuch/", data=b"{}", content_type="application/json").status_code == 404


def test_it_keeps_tracking_for_an_unknown_parcel_waiting_and_a_replay_applies_it(client):
    body = compact({"event": "track_updated", "data": sample("shippo-track-usps-delivered.json")})
    delivery = process(post_shippo(client, body))
    assert delivery.status == WebhookDelivery.Status.WAITING
    assert "no shipment has tracking number 9205590164917337534322" in delivery.error
    factories.ShipmentFactory(tracking_number="9205590164917337534322")
    call_command("replay_webhooks", "--failed")
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED and delivery.attempts == 2
    assert Shipment.objects.get().status == "delivered"
