"""Loopback stores for store-action tests: the Shopify stand-in from ``scripts/fake_shopify.py``
and a small WooCommerce REST v3 stand-in, both real HTTP servers on 127.0.0.1.

The approval itself belongs to ``packets.decisions.approve_decision``; ``approve`` here does what
its transaction does for store actions (lock, mark approved, call ``on_decision_approved``).
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from decimal import Decimal
from http.server import ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from packets.models import Decision
from packets.store_actions import on_decision_approved
from scripts.fake_shopify import FakeShopStore, serve
from tests import factories
from tests.loopback import HANG_TIMEOUT, serve_json_api
from tests.shopify_schema import problems

SHOPIFY_TOKEN = "shpat_test_token"


@pytest.fixture
def shop(settings):
    """The fake Shopify store, with the app's settings pointed at it (the default API version).

    Every GraphQL document the product posts to it, with its variables, is validated against
    Shopify's Admin schema for that version; the test fails if any is refused.
    """
    store = FakeShopStore(token=SHOPIFY_TOKEN)
    version = settings.SHOPIFY_API_VERSION  # the product's default
    problems(version, "query { shop { name } }")  # load the schema now, not inside a timed request
    invalid = []
    answer = store.answer

    def answer_checked(query: str, variables: dict):
        """Every document the product sends, with its variables, is checked against Shopify's schema."""
        invalid.extend(f"{query.split('(')[0]}: {problem}" for problem in problems(version, query, variables))
        return answer(query, variables)

    store.answer = answer_checked
    server = serve(store)
    host, port = server.server_address[:2]
    settings.SHOPIFY_SHOP_URL = f"http://{host}:{port}"
    settings.SHOPIFY_ADMIN_TOKEN = SHOPIFY_TOKEN
    settings.SHOPIFY_JOB_POLL_SECONDS = 0  # poll the cancel job without waiting between polls
    settings.STORE_API_READ_TIMEOUT = HANG_TIMEOUT
    try:
        yield store
    finally:
        store.release.set()
        server.shutdown()
        server.server_close()
    assert invalid == [], f"documents Shopify's {version} Admin schema refuses"


def approve(decision: Decision, user) -> list:
    """One approve click: the approving transaction as far as store actions are concerned."""
    with transaction.atomic():
        locked = (
            Decision.objects.select_for_update(of=("self",))
            .select_related("case__order", "approved_by")
            .get(pk=decision.pk)
        )
        if locked.status != Decision.Status.APPROVED:
            locked.status = Decision.Status.APPROVED
            locked.approved_by, locked.approved_at = user, timezone.now()
            locked.save(update_fields=["status", "approved_by", "approved_at"])
        return on_decision_approved(locked)


def backorder_case(channel="shopify", *, external_id="5000000000001", number="#1042", **order_fields):
    """A case about an order with one line waiting on two units (line id 111, $20.00 each)."""
    order = factories.OrderFactory(
        channel=channel,
        external_id=external_id,
        number=number,
        total=Decimal("84.20"),
        subtotal=Decimal("80.00"),
        **order_fields,
    )
    product = factories.ProductFactory(title="Blue Mug", on_hand=0)
    factories.OrderLineFactory(
        order=order,
        product=product,
        external_id="111",
        quantity=2,
        allocated=0,
        state="backordered",
        unit_price=Decimal("20.00"),
    )
    return factories.CaseFactory(order=order, product=product)


def decision_for(case, action, user, **fields) -> Decision:
    if action == Decision.Action.WAIT:
        fields.setdefault("next_check_at", timezone.now())
    return factories.DecisionFactory(case=case, action=action, decided_by=user, **fields)


# --------------------------------------------------------------------------- WooCommerce


class FakeWooStore:
    """Orders and refunds as WooCommerce REST v3 keeps them; scripted faults per call."""

    def __init__(self, key: str, secret: str):
        self.key, self.secret = key, secret
        self.orders: dict[str, dict] = {}
        self.refunds: dict[str, list[dict]] = {}
        self.products: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.faults: deque[tuple[str, str]] = deque()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._ids = 700

    def fail_next(self, method: str, mode: str) -> None:
        """mode: hang (applied, no answer), 400 (refused), 429, 500, cannot_refund (the gateway cannot refund)."""
        self.faults.append((method, mode))

    def add_product(self, product_id: str, *, backorders: str = "notify", parent_id: int = 0) -> dict:
        """A simple product, or a variation of ``parent_id`` (WooCommerce answers ``GET /products/<id>``
        for both; a variation's ``backorders`` changes only through its parent's variations route)."""
        product = {
            "id": int(product_id),
            "type": "variation" if parent_id else "simple",
            "parent_id": parent_id,
            "backorders": backorders,
            "meta_data": [],
        }
        self.products[str(product_id)] = product
        if parent_id:
            self.products.setdefault(
                str(parent_id),
                {"id": parent_id, "type": "variable", "parent_id": 0, "backorders": "no", "meta_data": []},
            )
        return product

    def meta(self, product_id: str, key: str = "_backorder_desk_message") -> str | None:
        found = [m["value"] for m in self.products[str(product_id)]["meta_data"] if m["key"] == key]
        return found[0] if found else None

    def created(self, method: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["applied"]]

    def answer(self, method: str, path: str, body: dict | None, auth: tuple[str, str] | None):
        with self._lock:
            entry = {"method": method, "path": path, "body": body, "applied": False}
            self.requests.append(entry)
            if auth != (self.key, self.secret):
                return (
                    401,
                    {
                        "code": "woocommerce_rest_authentication_error",
                        "message": "Invalid signature - provided signature does not match.",
                        "data": {"status": 401},
                    },
                    {},
                    False,
                )
            fault = next((f for f in self.faults if f[0] == method), None)
            if fault:
                self.faults.remove(fault)
                if fault[1] == "400":
                    return (
                        400,
                        {
                            "code": "woocommerce_rest_invalid_order_status",
                            "message": "Invalid order status: the order cannot be cancelled.",
                            "data": {"status": 400},
                        },
                        {},
                        False,
                    )
                if fault[1] == "429":
                    return (
                        429,
                        {"code": "too_many_requests", "message": "Too many requests", "data": {"status": 429}},
                        {"Retry-After": "30"},
                        False,
                    )
                if fault[1] == "500":
                    return (
                        500,
                        {
                            "code": "internal_server_error",
                            "message": "There has been a critical error on this website.",
                            "data": {"status": 500},
                        },
                        {},
                        False,
                    )
                if fault[1] == "cannot_refund":
                    message = "Cannot create order refund, please try again."
                    return (
                        500,
                        {
                            "code": "woocommerce_rest_cannot_create_order_refund",
                            "message": message,
                            "data": {"status": 500},
                        },
                        {},
                        False,
                    )
            match = re.fullmatch(r"/wp-json/wc/v3/orders/(\d+)(/refunds)?", path)
            if path == "/wp-json/wc/v3/system_status":
                return 200, {"environment": {"version": "9.9.0", "site_url": "http://shop.test"}}, {}, False
            product = re.fullmatch(r"/wp-json/wc/v3/products/(\d+)(?:/variations/(\d+))?", path)
            if product:
                return self._product(method, product.group(1), product.group(2), body, entry, fault)
            if not match:
                return (
                    404,
                    {
                        "code": "rest_no_route",
                        "message": "No route was found matching the URL and request method.",
                        "data": {"status": 404},
                    },
                    {},
                    False,
                )
            order_id, refunds = match.group(1), match.group(2)
            order = self.orders.setdefault(order_id, {"id": int(order_id), "status": "processing", "total": "84.20"})
            hang = bool(fault and fault[1] == "hang")
            if refunds and method == "GET":
                return 200, list(reversed(self.refunds.get(order_id, []))), {}, False
            if refunds and method == "POST":
                self._ids += 1
                refund = {
                    "id": self._ids,
                    "amount": body["amount"],
                    "reason": body.get("reason", ""),
                    "refunded_payment": bool(body.get("api_refund", True)),
                    "meta_data": [{"id": self._ids * 10 + i, **m} for i, m in enumerate(body.get("meta_data", []))],
                }
                self.refunds.setdefault(order_id, []).append(refund)
                entry["applied"] = True
                return 201, refund, {}, hang
            if method == "PUT":
                order.update(body or {})
                entry["applied"] = True
                return 200, order, {}, hang
            return 200, order, {}, False

    def _product(self, method, product_id, variation_id, body, entry, fault):
        found = self.products.get(variation_id or product_id)
        if found is None or (variation_id and found["parent_id"] != int(product_id)):
            error = {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}
            return 404, error, {}, False
        if method == "PUT":
            if found["type"] == "variation" and not variation_id and "backorders" in (body or {}):
                # WooCommerce's products route does not save a variation's stock settings
                return 200, found, {}, False
            for key, value in (body or {}).items():
                if key == "meta_data":
                    for meta in value:
                        found["meta_data"] = [m for m in found["meta_data"] if m["key"] != meta["key"]]
                        found["meta_data"].append({"id": self._ids, **meta})
                else:
                    found[key] = value
            entry["applied"] = True
            return 200, found, {}, bool(fault and fault[1] == "hang")
        return 200, found, {}, False


def serve_woo(store: FakeWooStore) -> ThreadingHTTPServer:
    def answer(request):
        body = json.loads(request.body) if request.body else None
        return store.answer(request.method, request.path, body, request.basic_auth())

    return serve_json_api(answer, store.release)


@pytest.fixture
def woo(settings):
    store = FakeWooStore("ck_test", "cs_test")
    server = serve_woo(store)
    host, port = server.server_address[:2]
    settings.WOOCOMMERCE_URL = f"http://{host}:{port}"
    settings.WOOCOMMERCE_ALLOW_HTTP = True  # the stand-in on loopback speaks plain http
    settings.WOOCOMMERCE_CONSUMER_KEY, settings.WOOCOMMERCE_CONSUMER_SECRET = "ck_test", "cs_test"
    settings.STORE_API_READ_TIMEOUT = HANG_TIMEOUT
    try:
        yield store
    finally:
        store.release.set()
        server.shutdown()
        server.server_close()
