"""Webhook endpoints under abuse: every bad delivery gets its status, is kept, and changes nothing.

For each source (Shopify, WooCommerce, AfterShip, EasyPost, Shippo, generic, ShipStation,
BigCommerce): a missing or wrong signature (401, kept with its headers, size and hash but not
its body), a replay (200, kept as a duplicate, applied once), a forged delivery id on the same
body (recognised by the body's hash), a body above ``WEBHOOK_MAX_BYTES`` (413, kept without the
body), a body that is not JSON (400), and a body not declared as JSON (415). Every attempt is a
``WebhookDelivery`` row with its reason; orders, products and tracking stay as they were.
"""

from __future__ import annotations

import pytest

from backorders.models import Order, OrderLine, Product, Shipment, TrackingEvent, WebhookDelivery
from backorders.tasks import process_delivery
from tests.backorders.signed import HEADER_IDS, SOURCES, configure, sample_body, send

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

Status = WebhookDelivery.Status


@pytest.fixture(autouse=True)
def secrets(settings):
    configure(settings)


def facts() -> tuple[int, ...]:
    """Row counts of everything intake may write; a rejected delivery leaves all of them alone."""
    return tuple(m.objects.count() for m in (Order, OrderLine, Product, Shipment, TrackingEvent))


def only_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


@pytest.mark.parametrize("source", SOURCES)
def test_it_rejects_a_missing_signature_with_401_and_keeps_the_attempt(client, source):
    before = facts()
    response = send(client, source, sample_body(source), signed=False)
    assert response.status_code == 401
    assert b"Rejected:" in response.content
    delivery = only_delivery()
    assert (delivery.status, delivery.signature_valid) == (Status.REJECTED, False)
    # its headers, size and hash are kept, never its body
    body = sample_body(source)
    assert delivery.error and bytes(delivery.body) == b""
    assert (delivery.body_size, delivery.body_sha256) == (len(body), WebhookDelivery.hash_body(body))
    assert delivery.headers
    assert process_delivery(delivery.pk) == Status.REJECTED  # a replay never applies it
    assert facts() == before


@pytest.mark.parametrize("source", SOURCES)
def test_it_rejects_a_bad_signature_with_401(client, source):
    before = facts()
    response = send(client, source, sample_body(source), bad_signature=True)
    assert response.status_code == 401
    assert only_delivery().status == Status.REJECTED
    assert facts() == before


@pytest.mark.parametrize("source", SOURCES)
def test_it_applies_a_replayed_delivery_once(client, source):
    body = sample_body(source)
    first = send(client, source, body, delivery_id="evt-1")
    again = send(client, source, body, delivery_id="evt-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    original, copy = WebhookDelivery.objects.order_by("pk")
    assert copy.status == Status.DUPLICATE and copy.error == f"duplicate of delivery {original.pk}"

    process_delivery(original.pk)
    after_first = facts()
    assert process_delivery(copy.pk) == Status.DUPLICATE  # never applied
    assert process_delivery(original.pk) in {Status.PROCESSED, Status.IGNORED, Status.WAITING, Status.FAILED}
    assert facts() == after_first


@pytest.mark.parametrize("source", HEADER_IDS)
def test_it_recognises_a_forged_delivery_id_on_the_same_body(client, source):
    body = sample_body(source)
    send(client, source, body, delivery_id="evt-1")
    forged = send(client, source, body, delivery_id="evt-forged-2")
    assert forged.status_code == 200 and forged.json()["duplicate"] is True
    assert WebhookDelivery.objects.filter(status=Status.RECEIVED).count() == 1


@pytest.mark.parametrize("source", SOURCES)
def test_it_answers_an_oversized_body_with_413_and_keeps_the_attempt_without_the_body(client, settings, source):
    settings.WEBHOOK_MAX_BYTES = 2048
    before = facts()
    body = b'{"padding": "' + b"x" * 4096 + b'"}'
    response = send(client, source, body)
    assert response.status_code == 413
    assert b"larger than the 2048-byte limit" in response.content
    delivery = only_delivery()
    assert delivery.status == Status.REJECTED
    assert bytes(delivery.body) == b"" and f"{len(body)} bytes" in delivery.error
    assert delivery.headers  # who sent it and how, for review
    assert facts() == before


@pytest.mark.parametrize("source", SOURCES)
def test_it_takes_a_body_at_the_limit(client, settings, source):
    body = sample_body(source)
    settings.WEBHOOK_MAX_BYTES = len(body)
    assert send(client, source, body).status_code == 200


@pytest.mark.parametrize("source", SOURCES)
def test_it_answers_malformed_json_with_400_and_keeps_it(client, source):
    before = facts()
    response = send(client, source, b'{"id": 1, "line_items": [')
    assert response.status_code == 400
    assert b"not valid JSON" in response.content
    delivery = only_delivery()
    assert (delivery.status, delivery.signature_valid) == (Status.REJECTED, True)
    assert facts() == before


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_it_answers_a_body_not_declared_as_json_with_415(client, source, content_type):
    before = facts()
    response = send(client, source, sample_body(source), content_type=content_type)
    assert response.status_code == 415
    assert b"Content-Type must be application/json" in response.content
    delivery = only_delivery()
    assert delivery.status == Status.REJECTED and content_type in delivery.error
    assert facts() == before


@pytest.mark.parametrize("source", SOURCES)
def test_it_takes_json_with_a_charset(client, source):
    assert send(client, source, sample_body(source), content_type="application/json; charset=utf-8").status_code == 200


def test_it_still_answers_the_unsigned_woocommerce_ping(client):
    response = client.post(
        "/webhooks/woocommerce/", data=b"webhook_id=12", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert only_delivery().status == Status.IGNORED
