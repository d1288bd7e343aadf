"""Sign and post a body the way each source does, so abuse and fuzz tests speak every dialect.

``SOURCES`` names the webhook endpoints; ``sample_body(source)`` is the source's published
sample (read in place from ``../shared/samples/webhooks/``); ``send(client, source, body)`` posts
it with a valid signature unless told otherwise. ``configure(settings)`` sets every secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
import uuid
from datetime import UTC, datetime

from tests.backorders.intake_samples import (
    AFTERSHIP_SECRET,
    EASYPOST_SECRET,
    INTAKE_SETTINGS,
    SHIPPO_TOKEN,
    SHOPIFY_SECRET,
    WOO_SECRET,
    b64_hmac,
    compact,
    sample,
)

GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SOURCES = ["shopify", "woocommerce", "aftership", "easypost", "shippo", "generic", "shipstation", "bigcommerce"]
SHIPSTATION_TOKEN = "shipstation-test-token"
BIGCOMMERCE_SECRET = "bigcommerce-test-secret"
# Shopify's newer header names, without X- (shopify-hmac-sha256, shopify-topic, ...): the shopify endpoint
SHOPIFY_WITHOUT_X = "shopify-without-x"
# sources whose delivery id rides in a header, apart from the body: an id can be forged on the same body
HEADER_IDS = ["shopify", "woocommerce", "generic"]

GENERIC_ORDER = {
    "id": "SO-1042",
    "number": "#M1042",
    "placed_at": "2026-03-01T10:00:00Z",
    "updated_at": "2026-03-01T10:05:00Z",
    "status": "open",
    "payment_state": "paid",
    "total": "45.50",
    "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
    "lines": [{"id": "L1", "sku": "MUG-BLUE", "title": "Blue Mug", "quantity": 2, "unit_price": "20.00"}],
}


def configure(settings) -> None:
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)
    settings.GENERIC_WEBHOOK_SECRET = GENERIC_SECRET
    settings.SHIPSTATION_WEBHOOK_SECRET = SHIPSTATION_TOKEN
    settings.BIGCOMMERCE_WEBHOOK_SECRET = BIGCOMMERCE_SECRET


def sample_payload(source: str) -> dict:
    """The published sample of the source's main event, as a dict to mutate."""
    if source in {"shopify", SHOPIFY_WITHOUT_X}:
        return sample("shopify-orders-create.json")
    if source == "woocommerce":
        return sample("woocommerce-order-created.json")
    if source == "aftership":
        tracking = sample("aftership-tracking-get-fedex-delivered.json")["data"]["tracking"]
        return {"event": "tracking_update", "event_id": "", "msg": tracking, "ts": 1532487000}
    if source == "easypost":
        return sample("easypost-event-tracker-updated.json")
    if source == "shippo":
        return sample("shippo-track-usps-delivered.json")
    if source == "generic":
        return {"type": "order", "timestamp": "2026-03-01T10:05:00Z", "data": json.loads(json.dumps(GENERIC_ORDER))}
    if source == "shipstation":  # ShipStation's documented webhook body
        return {
            "resource_url": "https://ssapi.shipstation.com/shipments?storeID=123456&batchId=100301",
            "resource_type": "SHIP_NOTIFY",
        }
    if source == "bigcommerce":  # BigCommerce's documented store/order/created callback
        return {
            "scope": "store/order/created",
            "store_id": "1025646",
            "data": {"type": "order", "id": 250},
            "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d",
            "created_at": 1561479335,
            "producer": "stores/abc123",
        }
    raise ValueError(source)


def sample_body(source: str) -> bytes:
    return compact(sample_payload(source))


def send(
    client,
    source: str,
    body: bytes,
    *,
    signed: bool = True,
    bad_signature: bool = False,
    delivery_id: str | None = None,
    content_type: str = "application/json",
):
    """POST ``body`` to the source's endpoint with its headers and (unless told not to) a good signature."""
    delivery_id = delivery_id or uuid.uuid4().hex
    headers: dict[str, str] = {}
    url = f"/webhooks/carriers/{source}/" if source in {"aftership", "easypost", "shippo"} else f"/webhooks/{source}/"
    signed_body = body + b" " if bad_signature else body  # a signature of other bytes
    if source in {"shopify", SHOPIFY_WITHOUT_X}:
        prefix = "shopify-" if source == SHOPIFY_WITHOUT_X else "X-Shopify-"
        url = "/webhooks/shopify/"
        headers = {f"{prefix}Topic": "orders/create", f"{prefix}Webhook-Id": delivery_id}
        if signed:
            headers[f"{prefix}Hmac-Sha256"] = b64_hmac(SHOPIFY_SECRET, signed_body)
    elif source == "woocommerce":
        headers = {
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created",
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        if signed:
            headers["X-WC-Webhook-Signature"] = b64_hmac(WOO_SECRET, signed_body)
    elif source == "aftership":
        if signed:
            headers["aftership-hmac-sha256"] = b64_hmac(AFTERSHIP_SECRET, signed_body)
    elif source == "easypost":
        if signed:
            key = unicodedata.normalize("NFKD", EASYPOST_SECRET).encode()
            headers["X-Hmac-Signature"] = "hmac-sha256-hex=" + hmac.new(key, signed_body, hashlib.sha256).hexdigest()
    elif source == "shippo":
        if signed:
            url += "?token=" + (SHIPPO_TOKEN + "x" if bad_signature else SHIPPO_TOKEN)
    elif source == "shipstation":
        if signed:
            url += "?token=" + (SHIPSTATION_TOKEN + "x" if bad_signature else SHIPSTATION_TOKEN)
    elif source == "bigcommerce":
        if signed:
            headers["X-Webhook-Secret"] = BIGCOMMERCE_SECRET + ("x" if bad_signature else "")
    elif source == "generic":
        from standardwebhooks import Webhook

        now = datetime.now(UTC)
        headers = {"webhook-id": delivery_id, "webhook-timestamp": str(int(now.timestamp()))}
        if signed:
            text = signed_body.decode("utf-8")
            headers["webhook-signature"] = Webhook(GENERIC_SECRET).sign(msg_id=delivery_id, timestamp=now, data=text)
    return client.post(url, data=body, content_type=content_type, headers=headers)
