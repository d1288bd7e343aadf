"""Loopback stand-ins for the stock a channel sells from: Shopify's ``inventorySetQuantities`` and
WooCommerce's products endpoint, real HTTP servers on 127.0.0.1 (``tests.loopback.serve_json_api``).

The Shopify stand-in answers as Shopify's Admin GraphQL documentation shows: ``@idempotent`` keys
(a repeat with the same key and input returns the first answer and changes nothing; a different
input under the same key is IDEMPOTENCY_KEY_PARAMETER_MISMATCH), THROTTLED with HTTP 200, 429 with
Retry-After, 500, user errors, and ``hang`` (applied, then no answer). Every document it receives,
with its variables, is checked against Shopify's Admin schema for the product's API version.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque

import pytest

from tests.loopback import HANG_TIMEOUT, serve_json_api
from tests.shopify_schema import problems

TOKEN = "shpat_stock_token"
KEY = re.compile(r'@idempotent\(\s*key:\s*"([^"]+)"\s*\)')
COST = {"cost": {"requestedQueryCost": 10, "throttleStatus": {"currentlyAvailable": 0.0, "restoreRate": 100.0}}}


class FakeShopifyStock:
    def __init__(self, version: str):
        self.version = version
        self.levels: dict[tuple[str, str], int] = {}  # (inventory item gid, location gid) -> available
        self.received: list[dict] = []  # every call: {"key", "variables", "applied"}
        self.invalid: list[str] = []
        self.faults: deque[tuple] = deque()
        self.answers: dict[str, tuple[str, dict]] = {}  # idempotency key -> (input, answer)
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._groups = 0

    def fail_next(self, mode: str, *args) -> None:
        """mode: throttled, 429, 500, hang, or user_error with (code, message)."""
        self.faults.append((mode, *args))

    def applied(self) -> list[dict]:
        return [call for call in self.received if call["applied"]]

    def answer(self, request):
        if request.headers.get("x-shopify-access-token") != TOKEN:
            return (
                401,
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
                {},
                False,
            )
        payload = json.loads(request.body)
        query, variables = payload["query"], payload.get("variables") or {}
        with self._lock:
            self.invalid.extend(problems(self.version, query, variables))
            match = KEY.search(query)
            key = match.group(1) if match else ""
            call = {"key": key, "variables": variables, "applied": False}
            self.received.append(call)
            fault = self.faults.popleft() if self.faults else None
            if fault and fault[0] == "throttled":
                errors = [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
                return 200, {"errors": errors, "extensions": COST}, {}, False
            if fault and fault[0] == "429":
                return 429, {"errors": "Exceeded 2 calls per second for api client."}, {"Retry-After": "2.0"}, False
            if fault and fault[0] == "500":
                return 500, {"errors": "Internal Server Error"}, {}, False
            if fault and fault[0] == "user_error":
                errors = [{"field": ["input", "quantities", "0", "locationId"], "message": fault[2], "code": fault[1]}]
                return 200, self._payload(None, errors), {}, False
            if not key:
                errors = [
                    {"field": None, "message": "An idempotency key is required.", "code": "IDEMPOTENCY_KEY_REQUIRED"}
                ]
                return 200, self._payload(None, errors), {}, False
            body = json.dumps(variables, sort_keys=True)
            if key in self.answers:
                first, answer = self.answers[key]
                if first != body:
                    errors = [
                        {
                            "field": None,
                            "message": "The same idempotency key was used with different parameters.",
                            "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                        }
                    ]
                    return 200, self._payload(None, errors), {}, False
                return 200, answer, {}, False
            changes = []
            for q in variables["input"]["quantities"]:
                where = (q["inventoryItemId"], q["locationId"])
                before = self.levels.get(where, 0)
                self.levels[where] = q["quantity"]
                changes.append(
                    {
                        "name": "available",
                        "delta": q["quantity"] - before,
                        "quantityAfterChange": q["quantity"],
                        "location": {"id": q["locationId"]},
                    }
                )
            self._groups += 1
            group = {
                "id": f"gid://shopify/InventoryAdjustmentGroup/{self._groups}",
                "reason": variables["input"]["reason"],
                "changes": changes,
            }
            answer = self._payload(group, [])
            self.answers[key] = (body, answer)
            call["applied"] = True
            return 200, answer, {}, bool(fault and fault[0] == "hang")

    @staticmethod
    def _payload(group, errors) -> dict:
        data = {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": errors}}
        return {"data": data, "extensions": {"cost": {"requestedQueryCost": 10}}}


class FakeWooProducts:
    """``PUT /wp-json/wc/v3/products/<id>`` and ``.../products/<parent>/variations/<id>`` as WooCommerce
    REST v3 answers them: a variation (kept with its ``parent_id``) is found only under its parent."""

    def __init__(self, key: str, secret: str):
        self.key, self.secret = key, secret
        self.products: dict[str, dict] = {}
        self.received: list[dict] = []
        self.faults: deque[str] = deque()
        self.release = threading.Event()

    def answer(self, request):
        body = json.loads(request.body) if request.body else None
        self.received.append({"method": request.method, "path": request.path, "body": body})
        if request.basic_auth() != (self.key, self.secret):
            error = {
                "code": "woocommerce_rest_authentication_error",
                "message": "Invalid signature.",
                "data": {"status": 401},
            }
            return 401, error, {}, False
        fault = self.faults.popleft() if self.faults else None
        if fault == "429":
            return (
                429,
                {"code": "too_many_requests", "message": "Too many requests", "data": {"status": 429}},
                {},
                False,
            )
        match = re.fullmatch(r"/wp-json/wc/v3/products/(\d+)(?:/variations/(\d+))?", request.path)
        parent, variation = match.groups() if match else (None, None)
        known = self.products.get(variation or parent or "")
        misplaced = variation and str(known.get("parent_id")) != parent if known else False
        # a variation's stock is written under its parent only; the product endpoint does not take it
        bare_variation = known and not variation and known.get("parent_id") and request.method == "PUT"
        if known is None or misplaced or bare_variation:
            error = {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}
            return 404, error, {}, False
        if fault == "400":
            error = {
                "code": "rest_invalid_param",
                "message": "Invalid parameter(s): stock_quantity",
                "data": {"status": 400, "params": {"stock_quantity": "stock_quantity is not of type integer."}},
            }
            return 400, error, {}, False
        product = known
        if request.method == "PUT":
            product.update(body or {})
            product["stock_status"] = "instock" if product.get("stock_quantity", 0) > 0 else "outofstock"
        return 200, product, {}, False


@pytest.fixture
def shopify_stock(settings):
    store = FakeShopifyStock(settings.SHOPIFY_API_VERSION)
    problems(store.version, "query { shop { name } }")  # load the schema now, not inside a timed request
    server = serve_json_api(store.answer, store.release)
    host, port = server.server_address[:2]
    settings.SHOPIFY_SHOP_URL = f"http://{host}:{port}"
    settings.SHOPIFY_ADMIN_TOKEN = TOKEN
    settings.STORE_API_READ_TIMEOUT = HANG_TIMEOUT
    try:
        yield store
    finally:
        store.release.set()
        server.shutdown()
        server.server_close()
    assert store.invalid == []


@pytest.fixture
def woo_products(settings):
    store = FakeWooProducts("ck_stock", "cs_stock")
    server = serve_json_api(store.answer, store.release)
    host, port = server.server_address[:2]
    settings.WOOCOMMERCE_URL = f"http://{host}:{port}"
    settings.WOOCOMMERCE_ALLOW_HTTP = True  # the stand-in on loopback speaks plain http
    settings.WOOCOMMERCE_CONSUMER_KEY, settings.WOOCOMMERCE_CONSUMER_SECRET = "ck_stock", "cs_stock"
    settings.STORE_API_READ_TIMEOUT = HANG_TIMEOUT
    try:
        yield store
    finally:
        store.release.set()
        server.shutdown()
        server.server_close()
