"""Signed webhook traffic for the reliability tests, and a sender that retries as the platforms do.

Payloads start from the platforms' published samples (``../shared/samples/webhooks/``, read in
place) with the fields a test names changed. ``Sender`` posts deliveries to a served app over real
HTTP from a few threads; a connection error, a timeout or a 5xx answer is tried again after a
pause, with the same body and delivery id (Shopify re-sends the original payload), until the app
answers 200 or the sender's patience runs out.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import requests
from standardwebhooks import Webhook

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "webhooks"
SHOPIFY_SECRET = "reliability-shopify-secret"
WOO_SECRET = "reliability-woo-secret"
AFTERSHIP_SECRET = "reliability-aftership-secret"
GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRETS = {
    "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
    "WOOCOMMERCE_WEBHOOK_SECRET": WOO_SECRET,
    "AFTERSHIP_WEBHOOK_SECRET": AFTERSHIP_SECRET,
    "GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
}


@cache
def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@dataclass(frozen=True)
class Delivery:
    kind: str
    path: str
    body: bytes
    headers: dict


def _b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _compact(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- Shopify


def shopify_order(
    order_id: int, name: str, lines: list[tuple[str, int]], *, email: str, created_at: str | None = None
) -> dict:
    """An open, paid ``orders/create`` payload with one line per (sku, quantity)."""
    base = sample("shopify-orders-create.json")
    payload = copy.deepcopy(base)
    payload.update(
        id=order_id,
        name=name,
        order_number=order_id % 1_000_000,
        email=email,
        contact_email=email,
        cancelled_at=None,
        closed_at=None,
        fulfillment_status=None,
        financial_status="paid",
    )
    if created_at:
        payload.update(created_at=created_at, updated_at=created_at, processed_at=created_at)
    if payload.get("customer"):
        payload["customer"].update(id=order_id + 1, email=email, phone=None)
    payload["line_items"] = []
    for k, (sku, quantity) in enumerate(lines):
        line = copy.deepcopy(base["line_items"][0])
        digest = int(hashlib.sha256(sku.encode()).hexdigest()[:8], 16)
        line.update(
            id=order_id * 10 + k,
            sku=sku,
            variant_id=5_000_000 + digest % 1_000_000,
            product_id=4_000_000 + digest % 1_000_000,
            quantity=quantity,
            current_quantity=quantity,
            fulfillable_quantity=quantity,
            fulfillment_status=None,
            gift_card=False,
        )
        payload["line_items"].append(line)
    return payload


def shopify(topic: str, payload: dict, webhook_id: str) -> Delivery:
    body = _compact(payload)
    return Delivery(
        kind=f"shopify {topic}",
        path="/webhooks/shopify/",
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": _b64_hmac(SHOPIFY_SECRET, body),
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Shop-Domain": "backorder-desk-test.myshopify.com",
        },
    )


# --------------------------------------------------------------------------- WooCommerce


def woo_order(order_id: int, lines: list[tuple[str, int]], *, email: str, created_gmt: str) -> dict:
    """An ``order.created`` payload (REST v3 order), processing and paid, one line per (sku, quantity)."""
    base = sample("woocommerce-order-created.json")
    payload = copy.deepcopy(base)
    payload.update(
        id=order_id,
        number=str(order_id),
        status="processing",
        date_created_gmt=created_gmt,
        date_modified_gmt=created_gmt,
        date_paid_gmt=created_gmt,
    )
    payload["billing"] = {**payload.get("billing", {}), "email": email, "phone": ""}
    payload["line_items"] = []
    for k, (sku, quantity) in enumerate(lines):
        line = copy.deepcopy(base["line_items"][0])
        line.update(id=order_id * 10 + k, sku=sku, quantity=quantity, product_id=0, variation_id=0)
        payload["line_items"].append(line)
    return payload


def woocommerce(topic: str, payload: dict, delivery_id: str) -> Delivery:
    body = _compact(payload)
    resource, _, event = topic.partition(".")
    return Delivery(
        kind=f"woocommerce {topic}",
        path="/webhooks/woocommerce/",
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id,
            "X-WC-Webhook-Signature": _b64_hmac(WOO_SECRET, body),
        },
    )


# --------------------------------------------------------------------------- AfterShip


def aftership(tracking_number: str, checkpoints: list[tuple[str, str, str]]) -> Delivery:
    """A tracking update: the sample's tracking with its checkpoints replaced by (tag, time, message)."""
    tracking = copy.deepcopy(sample("aftership-tracking-get-fedex-delivered.json")["data"]["tracking"])
    template = tracking["checkpoints"][0]
    tracking.update(tracking_number=tracking_number, tag=checkpoints[-1][0], subtag=f"{checkpoints[-1][0]}_001")
    tracking["checkpoints"] = [
        {**template, "tag": tag, "subtag": f"{tag}_001", "checkpoint_time": when, "message": message}
        for tag, when, message in checkpoints
    ]
    body = _compact({"event": "tracking_update", "event_id": f"as-{tracking_number}", "msg": tracking, "ts": 0})
    return Delivery(
        kind="aftership tracking_update",
        path="/webhooks/carriers/aftership/",
        body=body,
        headers={"Content-Type": "application/json", "aftership-hmac-sha256": _b64_hmac(AFTERSHIP_SECRET, body)},
    )


# --------------------------------------------------------------------------- generic (Standard Webhooks)


def generic(fact_type: str, data: dict, message_id: str) -> Delivery:
    """A Standard Webhooks delivery; signed with the current time when it is sent (see ``Sender``)."""
    body = _compact({"type": fact_type, "timestamp": datetime.now(UTC).isoformat(), "data": data})
    return Delivery(
        kind=f"generic {fact_type}",
        path="/webhooks/generic/",
        body=body,
        headers={"Content-Type": "application/json", "webhook-id": message_id},
    )


def _signed_now(delivery: Delivery) -> dict:
    """Standard Webhooks signatures carry a timestamp checked against the clock: sign at sending."""
    if "webhook-id" not in delivery.headers:
        return delivery.headers
    now = datetime.now(UTC)
    signature = Webhook(GENERIC_SECRET).sign(delivery.headers["webhook-id"], now, delivery.body.decode())
    return {**delivery.headers, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}


# --------------------------------------------------------------------------- sending


class Sender:
    """Posts deliveries until each is answered 200, retrying what failed as a platform would."""

    def __init__(self, base: str, *, threads: int = 4, patience: float = 120.0, pause: float = 0.5):
        self.base, self.threads, self.patience, self.pause = base, threads, patience, pause
        self.figures: Counter = Counter()
        self.answers: list[tuple[Delivery, dict]] = []
        self._lock = threading.Lock()
        self._session = threading.local()

    def _post(self, delivery: Delivery) -> None:
        session = getattr(self._session, "session", None) or requests.Session()
        self._session.session = session
        deadline = time.monotonic() + self.patience
        while True:
            try:
                response = session.post(
                    self.base + delivery.path, data=delivery.body, headers=_signed_now(delivery), timeout=15
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                if response.status_code == 200:
                    with self._lock:
                        self.figures["acknowledged"] += 1
                        self.answers.append((delivery, response.json()))
                    return
                if response.status_code < 500:
                    raise AssertionError(f"{delivery.kind} answered {response.status_code}: {response.text[:300]}")
                problem = f"HTTP {response.status_code}"
            with self._lock:
                self.figures["retried"] += 1
                self.figures[f"retried after {problem}"] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{delivery.kind} was never acknowledged; last problem: {problem}")
            time.sleep(self.pause)

    def send(self, deliveries: list[Delivery]) -> None:
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            list(pool.map(self._post, deliveries))


class OwnerSession:
    """The owner signed in over HTTP with a session and the CSRF token, approving drafts as on the page."""

    def __init__(self, base: str, username: str, password: str):
        self.base, self.session = base, requests.Session()
        self.session.get(f"{base}/accounts/login/", timeout=30).raise_for_status()
        response = self.session.post(
            f"{base}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, response.text[:500]

    # What the page says when the draft changed between reading the list and pressing Approve.
    NO_LONGER_A_DRAFT = "This message can no longer be approved: it is "

    def approve(self, message_id: int) -> bool:
        """Press Approve. True when approved (302). False when the product refused because the draft
        changed meanwhile (the sweep cancelled it, its line having stopped waiting; or it was approved
        already): a 400 whose page says so. Anything else fails the test."""
        response = self.session.post(
            f"{self.base}/cases/messages/{message_id}/approve/",
            data={"csrfmiddlewaretoken": self.session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        if response.status_code == 302:
            return True
        assert response.status_code == 400, (message_id, response.status_code, response.text[:500])
        assert self.NO_LONGER_A_DRAFT in response.text, (message_id, response.text[:2000])
        return False
