"""The platforms' published sample payloads, read in place, and helpers that sign and post them.

The samples live beside the project in ``../shared/samples/webhooks/`` (see SOURCES.md there)
and are never copied in. Where a test needs a variant (an open order rather than the sample's
cancelled one), it loads the sample and changes the named fields, then sends compact JSON as
the platforms do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

from django.conf import settings
from django_q.models import OrmQ

SAMPLES = Path(settings.BASE_DIR).parent / "shared" / "samples" / "webhooks"

SHOPIFY_SECRET = "shpss_test_current"
SHOPIFY_OLD_SECRET = "shpss_test_previous"
WOO_SECRET = "woo-test-secret"
AFTERSHIP_SECRET = "aftership-test-secret"
EASYPOST_SECRET = "sécret"  # the secret EasyPost's client-library fixtures sign with
SHIPPO_TOKEN = "shippo-test-token"
SHIPPO_HMAC_SECRET = "shippo-test-hmac-key"

INTAKE_SETTINGS = {
    "SHOPIFY_WEBHOOK_SECRETS": [SHOPIFY_SECRET, SHOPIFY_OLD_SECRET],
    "WOOCOMMERCE_WEBHOOK_SECRET": WOO_SECRET,
    "AFTERSHIP_WEBHOOK_SECRET": AFTERSHIP_SECRET,
    "EASYPOST_WEBHOOK_SECRET": EASYPOST_SECRET,
    "SHIPPO_WEBHOOK_SECRET": SHIPPO_TOKEN,
    "SHIPPO_WEBHOOK_HMAC_SECRET": SHIPPO_HMAC_SECRET,
    "INTAKE_FOLLOWUP_TASK": "",
}


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample(name: str) -> dict:
    data = json.loads(sample_bytes(name))
    return data["response"] if "response" in data and "access_scopes" in data else data


def compact(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_shopify(
    client,
    topic: str,
    body: bytes,
    *,
    webhook_id: str,
    secret: str = SHOPIFY_SECRET,
    signature=None,
    prefix: str = "X-Shopify-",
):
    """Post as Shopify does; ``prefix="shopify-"`` sends the newer header names without ``X-``."""
    return client.post(
        "/webhooks/shopify/",
        data=body,
        content_type="application/json",
        headers={
            f"{prefix}Topic": topic,
            f"{prefix}Hmac-Sha256": signature if signature is not None else b64_hmac(secret, body),
            f"{prefix}Shop-Domain": "backorder-desk-test.myshopify.com",
            f"{prefix}API-Version": "2026-10",
            f"{prefix}Webhook-Id": webhook_id,
            f"{prefix}Triggered-At": "2026-09-03T14:15:00.000Z",
        },
    )


def post_woocommerce(client, topic: str, body: bytes, *, delivery_id: str = "1", signature=None):
    resource, event = topic.split(".")
    return client.post(
        "/webhooks/woocommerce/",
        data=body,
        content_type="application/json",
        headers={
            "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signature if signature is not None else b64_hmac(WOO_SECRET, body),
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id,
        },
    )


def queued(func: str) -> list[OrmQ]:
    """Tasks waiting in the ORM broker for ``func`` (a real queue, not a stand-in)."""
    return [q for q in OrmQ.objects.all() if q.func() == func]
