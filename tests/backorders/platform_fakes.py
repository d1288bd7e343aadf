"""Loopback stand-ins for ShipStation, BigCommerce and Magento, answering in their published shapes.

One ``serve_json_api`` server (``tests/loopback.py``) plays all three, each under its own path:
ShipStation at the root (``/shipments``, ``/orders``, ``/orders/addtag``, ``/accounts/listtags``;
Basic auth key:secret), BigCommerce under ``/stores/<hash>/`` (V2 orders, V3 catalog and payment
actions; ``X-Auth-Token``), Magento under ``/rest/V1/`` (orders with ``searchCriteria``, MSI
source items; Bearer token). Each keeps what it was told (tags, cancellations, refunds) and
records every request; ``fail_next(method, status)`` makes the next such call answer an error.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from urllib.parse import parse_qs

import pytest

from tests.loopback import ApiRequest, serve_json_api

SS_KEY, SS_SECRET = "ss-key", "ss-secret"
BC_HASH, BC_TOKEN = "abc123", "bc-token"
MAGENTO_TOKEN = "magento-integration-token"
TAG_ID = 4242


class FakePlatforms:
    def __init__(self):
        self.requests: list[ApiRequest] = []
        self.faults: deque[tuple[str, int, str]] = deque()
        self.lock = threading.Lock()
        # ShipStation
        self.shipments: list[dict] = []
        self.ss_orders: list[dict] = []
        self.tags: dict[int, set[int]] = {}
        # BigCommerce
        self.bc_orders: dict[int, dict] = {}
        self.bc_products: dict[int, list[dict]] = {}
        self.bc_catalog: dict[int, dict] = {}
        self.bc_refunds: dict[int, list[dict]] = {}
        # Magento
        self.mg_orders: list[dict] = []
        self.mg_source_items: list[dict] = []

    def fail_next(self, method: str, status: int, path: str = "") -> None:
        """The next ``method`` call (to a path containing ``path``) answers ``status``; a negative
        status means the platform acted on the call, then the answer was lost (a 5xx comes back)."""
        self.faults.append((method, status, path))

    def calls(self, method: str, prefix: str = "") -> list[ApiRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # ----------------------------------------------------------------------- routing

    def answer(self, request: ApiRequest):
        with self.lock:
            self.requests.append(request)
            for fault in list(self.faults):
                if fault[0] == request.method and fault[2] in request.path:
                    self.faults.remove(fault)
                    if fault[1] < 0:
                        self.route(request)
                    status = abs(fault[1])
                    return (
                        status,
                        {"status": status, "title": f"scripted {status}", "message": f"scripted {status}"},
                        {},
                        False,
                    )
            return self.route(request)

    def route(self, request: ApiRequest):
        if request.path.startswith("/stores/"):
            return self.bigcommerce(request)
        if request.path.startswith("/rest/"):
            return self.magento(request)
        return self.shipstation(request)

    def shipstation(self, r: ApiRequest):
        if r.basic_auth() != (SS_KEY, SS_SECRET):
            return 401, {"Message": "Authorization has been denied for this request."}, {}, False
        query = parse_qs(r.query)
        if r.method == "GET" and r.path == "/shipments":
            size, page = 1, int(query.get("page", ["1"])[0])  # one per page: the client must follow pages
            chunk = self.shipments[(page - 1) * size : page * size]
            return (
                200,
                {"shipments": chunk, "total": len(self.shipments), "page": page, "pages": len(self.shipments)},
                {},
                False,
            )
        if r.method == "GET" and r.path == "/orders":
            wanted = query.get("orderNumber", [""])[0]
            found = [o for o in self.ss_orders if o["orderNumber"] == wanted]
            return 200, {"orders": found, "total": len(found), "page": 1, "pages": 1}, {}, False
        if r.method == "POST" and r.path in ("/orders/addtag", "/orders/removetag"):
            body = json.loads(r.body)
            if body["orderId"] not in {o["orderId"] for o in self.ss_orders}:
                return 200, {"success": False, "message": "Order not found."}, {}, False
            tags = self.tags.setdefault(body["orderId"], set())
            (tags.add if r.path.endswith("addtag") else tags.discard)(body["tagId"])
            words = "Tag added successfully." if r.path.endswith("addtag") else "Tag removed successfully."
            return 200, {"success": True, "message": words}, {}, False
        if r.method == "GET" and r.path == "/accounts/listtags":
            return 200, [{"tagId": TAG_ID, "name": "Backorder", "color": "#FF0000"}], {}, False
        return 404, {"Message": "No HTTP resource was found that matches the request URI."}, {}, False

    def bigcommerce(self, r: ApiRequest):
        if r.headers.get("x-auth-token") != BC_TOKEN:
            return 401, {"status": 401, "title": "Unauthorized", "type": "about:blank"}, {}, False
        path = r.path.removeprefix(f"/stores/{BC_HASH}")
        parts = path.strip("/").split("/")
        if parts[:2] == ["v2", "orders"] and len(parts) >= 3:
            order = self.bc_orders.get(int(parts[2]))
            if order is None:
                return 404, [{"status": 404, "message": "The requested resource was not found."}], {}, False
            if len(parts) == 4 and parts[3] == "products":
                return 200, self.bc_products.get(order["id"], []), {}, False
            if len(parts) == 4 and parts[3] == "shipping_addresses":
                return 200, [order["_shipping"]], {}, False
            if r.method == "PUT":
                status_id = json.loads(r.body)["status_id"]
                order.update(status_id=status_id, status="Cancelled" if status_id == 5 else order["status"])
            return 200, {k: v for k, v in order.items() if not k.startswith("_")}, {}, False
        if parts[:3] == ["v3", "catalog", "products"]:
            product = self.bc_catalog.get(int(parts[3]))
            if product is None:
                return 404, {"status": 404, "title": "The requested product was not found."}, {}, False
            return 200, {"data": product, "meta": {}}, {}, False
        if parts[:2] == ["v3", "orders"] and parts[3:5] == ["payment_actions", "refund_quotes"]:
            body = json.loads(r.body)
            amount = sum(i["amount"] for i in body["items"])
            methods = [
                [
                    {
                        "provider_id": "braintree",
                        "provider_description": "Braintree (Visa ending in 1111)",
                        "amount": amount,
                        "offline": False,
                        "offline_provider": False,
                        "offline_reason": "",
                    }
                ]
            ]
            data = {
                "order_id": int(parts[2]),
                "total_refund_amount": amount,
                "total_refund_tax_amount": 0,
                "rounding": 0,
                "adjustment": 0,
                "tax_inclusive": True,
                "refund_methods": methods,
            }
            return 201, {"data": data, "meta": {}}, {}, False
        if parts[:2] == ["v3", "orders"] and parts[3:5] == ["payment_actions", "refunds"]:
            order_id = int(parts[2])
            refunds = self.bc_refunds.setdefault(order_id, [])
            if r.method == "GET":
                return 200, {"data": refunds, "meta": {}}, {}, False
            body = json.loads(r.body)
            refund = {
                "id": 900 + len(refunds),
                "order_id": order_id,
                "reason": body["items"][0].get("reason", ""),
                "total_amount": sum(p["amount"] for p in body["payments"]),
                "total_tax": 0,
                "items": body["items"],
                "payments": body["payments"],
            }
            refunds.append(refund)
            return 201, {"data": refund, "meta": {}}, {}, False
        if parts == ["v2", "store"]:
            return 200, {"id": BC_HASH, "name": "Backorder Test Store", "domain": "store.example.com"}, {}, False
        return 404, {"status": 404, "title": "Not found"}, {}, False

    def magento(self, r: ApiRequest):
        if r.headers.get("authorization") != f"Bearer {MAGENTO_TOKEN}":
            return 401, {"message": "The consumer isn't authorized to access %resources."}, {}, False
        query = {k: v[0] for k, v in parse_qs(r.query).items()}
        size = int(query.get("searchCriteria[pageSize]", 20))
        page = int(query.get("searchCriteria[currentPage]", 1))
        if r.path == "/rest/V1/orders":
            items = sorted(self.mg_orders, key=lambda o: o["updated_at"])
            since = query.get("searchCriteria[filter_groups][0][filters][0][value]")
            if since:
                assert query["searchCriteria[filter_groups][0][filters][0][condition_type]"] == "gteq"
                items = [o for o in items if o["updated_at"] >= since]
        elif r.path == "/rest/V1/inventory/source-items":
            items = self.mg_source_items
        elif r.path == "/rest/V1/store/storeConfigs":
            return 200, [{"id": 1, "code": "default", "base_url": "http://shop.example.com/"}], {}, False
        else:
            return 404, {"message": "Request does not match any route."}, {}, False
        last = max(1, -(-len(items) // size))
        page = min(page, last)  # Magento answers a page past the end with the last page
        chunk = items[(page - 1) * size : page * size]
        return (
            200,
            {"items": chunk, "search_criteria": {"page_size": size, "current_page": page}, "total_count": len(items)},
            {},
            False,
        )


@pytest.fixture
def platforms(settings):
    fake = FakePlatforms()
    server = serve_json_api(fake.answer)
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"
    settings.PLATFORM_API_ALLOW_HTTP = True  # the stand-in on loopback speaks plain http
    settings.SHIPSTATION_API_URL, settings.SHIPSTATION_API_KEY, settings.SHIPSTATION_API_SECRET = url, SS_KEY, SS_SECRET
    settings.SHIPSTATION_BACKORDER_TAG_ID = str(TAG_ID)
    settings.BIGCOMMERCE_API_URL, settings.BIGCOMMERCE_STORE_HASH = url, BC_HASH
    settings.BIGCOMMERCE_ACCESS_TOKEN = BC_TOKEN
    settings.MAGENTO_URL, settings.MAGENTO_ACCESS_TOKEN, settings.MAGENTO_PAGE_SIZE = url, MAGENTO_TOKEN, 2
    settings.STORE_API_READ_TIMEOUT = 3
    fake.url = url
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
