#!/usr/bin/env python3
"""A stand-in for a Shopify store's Admin GraphQL API, on loopback, for demos and tests.

    python scripts/fake_shopify.py --port 8787
    SHOPIFY_SHOP_URL=http://127.0.0.1:8787 SHOPIFY_ADMIN_TOKEN=test make run

It answers ``POST /admin/api/<version>/graphql.json`` the way Shopify's documentation shows for
the calls Backorder Desk makes (orderCancel and its job, refundCreate with @idempotent,
suggestedRefund, fulfillmentOrderHold / ReleaseHold, tagsAdd, reading an order back, shop name;
products' inventory policy, metafields and stock levels, in ``fake_shopify_products``),
keeps the orders it is asked about in memory (any order id exists: open, paid, one open
fulfillment order), and logs every mutation it receives. Tests script faults with
``FakeShopStore.fail_next``: THROTTLED (HTTP 200), 429 with Retry-After, 500, user errors, access
denied, and ``hang`` (the mutation is applied, then no answer comes: a timeout after the request
was taken).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import threading
from collections import deque
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from scripts.fake_shopify_products import PRODUCT_MUTATIONS, PRODUCT_OPERATIONS, FakeProducts
except ImportError:  # run as a script from scripts/
    from fake_shopify_products import PRODUCT_MUTATIONS, PRODUCT_OPERATIONS, FakeProducts

logger = logging.getLogger("fake_shopify")

PATH = re.compile(r"^/admin/api/[0-9a-z-]+/graphql\.json$")
IDEMPOTENT = re.compile(r'@idempotent\(\s*key:\s*"([^"]+)"\s*\)')
# Root fields, most specific first.
OPERATIONS = (
    "fulfillmentOrderReleaseHold",
    "fulfillmentOrderHold",
    "orderCancel",
    "refundCreate",
    "tagsAdd",
    "suggestedRefund",
    "job",
    "order",
    "shop",
    *PRODUCT_OPERATIONS,
)
MUTATIONS = {
    "orderCancel",
    "refundCreate",
    "fulfillmentOrderHold",
    "fulfillmentOrderReleaseHold",
    "tagsAdd",
    *PRODUCT_MUTATIONS,
}
DEFAULT_PRICE = Decimal("20.00")


def _cost(available: float = 1990.0) -> dict:
    return {
        "cost": {
            "requestedQueryCost": 10,
            "actualQueryCost": 10 if available else None,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0},
        }
    }


def operation_of(query: str) -> str:
    for name in OPERATIONS:
        if re.search(rf"\b{name}\s*[({{]", query):
            return name
    return ""


class FakeShopStore(FakeProducts):
    """The store's state and the faults scripted for the next calls. Thread-safe."""

    def __init__(self, *, token: str | None = None, job_polls: int = 1):
        self.token = token
        self.job_polls = job_polls  # how many job polls answer done: false before done: true
        self.orders: dict[str, dict] = {}
        self.products: dict[str, dict] = {}
        self.levels: dict[tuple[str, str], int] = {}  # (inventory item id, location id) -> available
        self.log: list[dict] = []
        self.faults: deque[tuple[str, str, dict]] = deque()
        self.jobs: dict[str, int] = {}
        self.idempotent: dict[str, dict] = {}
        self.release = threading.Event()  # set to let hung requests finish (their answer is dropped)
        self._lock = threading.RLock()
        self._ids = 1000

    # ------------------------------------------------------------------ scripting and looking

    def fail_next(self, operation: str, mode: str, **extra) -> None:
        """The next ``operation`` call fails with ``mode``: throttled, 429, 500, user_error, access_denied, hang."""
        with self._lock:
            self.faults.append((operation, mode, extra))

    def add_order(self, order_id: str, *, total: str = "45.00", lines: dict[str, str] | None = None, **fields) -> dict:
        with self._lock:
            order = self.order(order_id)
            order["total"] = Decimal(total)
            order["lines"].update({k: Decimal(v) for k, v in (lines or {}).items()})
            order.update(fields)
            return order

    def applied(self, operation: str) -> list[dict]:
        """The calls of ``operation`` that changed the store."""
        with self._lock:
            return [entry for entry in self.log if entry["operation"] == operation and entry["applied"]]

    def received(self, operation: str) -> list[dict]:
        with self._lock:
            return [entry for entry in self.log if entry["operation"] == operation]

    def order(self, order_id: str) -> dict:
        order_id = str(order_id).rsplit("/", 1)[-1]
        with self._lock:
            if order_id not in self.orders:
                self.orders[order_id] = {
                    "id": order_id,
                    "cancelledAt": None,
                    "financial": "PAID",
                    "total": Decimal("45.00"),
                    "tags": [],
                    "refunds": [],
                    "lines": {},
                    "holds": [],
                    "fo_status": "OPEN",
                }
            return self.orders[order_id]

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _take_fault(self, operation: str) -> tuple[str, dict] | None:
        for fault in list(self.faults):
            if fault[0] == operation:
                self.faults.remove(fault)
                return fault[1], fault[2]
        return None

    # ------------------------------------------------------------------ answering

    def answer(self, query: str, variables: dict) -> tuple[int, dict, dict, bool]:
        """(HTTP status, body, headers, hang) for one GraphQL request."""
        operation = operation_of(query)
        with self._lock:
            fault = self._take_fault(operation)
            entry = {"operation": operation, "variables": variables, "applied": False, "fault": fault and fault[0]}
            if operation in MUTATIONS:
                self.log.append(entry)
                logger.info("mutation %s %s%s", operation, json.dumps(variables), f" [{fault[0]}]" if fault else "")
            if fault:
                mode, extra = fault
                if mode == "throttled":
                    body = {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": _cost(available=0.0),
                    }
                    return 200, body, {}, False
                if mode == "429":
                    body = {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume."}
                    return 429, body, {"Retry-After": str(extra.get("retry_after", 2))}, False
                if mode == "500":
                    return 500, {"errors": "Internal Server Error"}, {}, False
                if mode == "access_denied":
                    message = f"Access denied for {operation} field. Required access: `write_orders` access scope."
                    body = {"errors": [{"message": message, "extensions": {"code": "ACCESS_DENIED"}}]}
                    return 200, body, {}, False
                if mode == "user_error":
                    return (
                        200,
                        self._user_error(operation, extra.get("message", "Invalid"), extra.get("code")),
                        {},
                        False,
                    )
            body = self._run(operation, query, variables, entry)
            body.setdefault("extensions", _cost())
            return 200, body, {}, bool(fault and fault[0] == "hang")

    def _user_error(self, operation: str, message: str, code: str | None) -> dict:
        if operation in PRODUCT_MUTATIONS:
            return self.product_user_error(operation, message, code)
        error = {"field": ["id"], "message": message, "code": code or "INVALID"}
        if operation == "orderCancel":
            return {"data": {"orderCancel": {"job": None, "orderCancelUserErrors": [error]}}}
        if operation in {"refundCreate", "tagsAdd"}:
            error.pop("code")
        key = {"refundCreate": "refund", "tagsAdd": "node"}.get(operation, "fulfillmentOrder")
        return {"data": {operation: {key: None, "userErrors": [error]}}}

    def _run(self, operation: str, query: str, v: dict, entry: dict) -> dict:
        if operation in PRODUCT_OPERATIONS:
            found = IDEMPOTENT.search(query)
            return self.run_product(operation, v, entry, key=found.group(1) if found else "")
        if operation == "shop":
            return {"data": {"shop": {"name": "Fake Shopify store"}}}
        if operation == "job":
            left = self.jobs.get(v["id"], 0)
            self.jobs[v["id"]] = max(0, left - 1)
            return {"data": {"job": {"id": v["id"], "done": left <= 0}}}
        if operation == "order":
            return {"data": {"order": self._order_view(self.order(v["id"]))}}
        if operation == "suggestedRefund":
            return {"data": {"order": self._suggested(self.order(v["id"]), v.get("lines") or [])}}
        if operation == "orderCancel":
            order = self.order(v["orderId"])
            if order["cancelledAt"]:
                error = {
                    "field": ["orderId"],
                    "message": "Cannot cancel an order that is already cancelled.",
                    "code": "INVALID",
                }
                return {"data": {"orderCancel": {"job": None, "orderCancelUserErrors": [error]}}}
            order["cancelledAt"] = "2026-01-15T12:00:00Z"
            order["financial"] = "REFUNDED" if v.get("refundMethod") else order["financial"]
            entry["applied"] = True
            job_id = f"gid://shopify/Job/{self._next_id()}"
            self.jobs[job_id] = self.job_polls
            return {
                "data": {
                    "orderCancel": {"job": {"id": job_id, "done": self.job_polls <= 0}, "orderCancelUserErrors": []}
                }
            }
        if operation == "refundCreate":
            found = IDEMPOTENT.search(query)
            if not found:
                error = {"field": None, "message": "The @idempotent directive is required for this mutation."}
                return {"data": {"refundCreate": {"refund": None, "userErrors": [error]}}}
            key = found.group(1)
            if key in self.idempotent:
                return self.idempotent[key]
            data = v["input"]
            order = self.order(data["orderId"])
            amount = sum(Decimal(t["amount"]) for t in data.get("transactions") or [])
            refund = {
                "id": f"gid://shopify/Refund/{self._next_id()}",
                "note": data.get("note"),
                "createdAt": "2026-01-15T12:00:00Z",
                "totalRefundedSet": {"shopMoney": {"amount": str(amount), "currencyCode": "USD"}},
            }
            order["refunds"].append(refund)
            order["financial"] = "PARTIALLY_REFUNDED"
            entry["applied"] = True
            body = {"data": {"refundCreate": {"refund": refund, "userErrors": []}}}
            self.idempotent[key] = body
            return body
        if operation == "fulfillmentOrderHold":
            order = self._order_by_fo(v["id"])
            handle = v["hold"].get("handle")
            if handle and any(h["handle"] == handle for h in order["holds"]):
                error = {
                    "field": ["fulfillmentHold", "handle"],
                    "message": (
                        "The handle provided for the fulfillment hold is already in use by this app for another "
                        "hold on this fulfillment order."
                    ),
                    "code": "DUPLICATE_FULFILLMENT_HOLD_HANDLE",
                }
                return {"data": {"fulfillmentOrderHold": {"fulfillmentHold": None, "userErrors": [error]}}}
            hold = {
                "id": f"gid://shopify/FulfillmentHold/{self._next_id()}",
                "handle": handle,
                "reason": v["hold"]["reason"],
            }
            order["holds"].append(hold)
            order["fo_status"] = "ON_HOLD"
            entry["applied"] = True
            return {
                "data": {
                    "fulfillmentOrderHold": {"fulfillmentHold": {"id": hold["id"], "handle": handle}, "userErrors": []}
                }
            }
        if operation == "fulfillmentOrderReleaseHold":
            order = self._order_by_fo(v["id"])
            ids = v.get("holdIds")
            # without holdIds Shopify releases every hold on the fulfillment order, other apps' too
            order["holds"] = [h for h in order["holds"] if ids and h["id"] not in ids]
            order["fo_status"] = "ON_HOLD" if order["holds"] else "OPEN"
            entry["applied"] = True
            fo = {"id": v["id"], "status": order["fo_status"]}
            return {"data": {"fulfillmentOrderReleaseHold": {"fulfillmentOrder": fo, "userErrors": []}}}
        if operation == "tagsAdd":
            order = self.order(v["id"])
            order["tags"] += [t for t in v["tags"] if t not in order["tags"]]
            entry["applied"] = True
            return {"data": {"tagsAdd": {"node": {"id": v["id"]}, "userErrors": []}}}
        return {
            "errors": [{"message": "Field doesn't exist on type 'QueryRoot'", "extensions": {"code": "undefinedField"}}]
        }

    def _order_by_fo(self, fo_gid: str) -> dict:
        return self.order(fo_gid.rsplit("/", 1)[-1])

    def _order_view(self, order: dict) -> dict:
        oid = order["id"]
        return {
            "id": f"gid://shopify/Order/{oid}",
            "name": f"#{oid}",
            "cancelledAt": order["cancelledAt"],
            "displayFinancialStatus": order["financial"],
            "tags": list(order["tags"]),
            "refunds": list(order["refunds"]),
            "fulfillmentOrders": {
                "nodes": [
                    {
                        "id": f"gid://shopify/FulfillmentOrder/{oid}",
                        "status": "CLOSED" if order["cancelledAt"] else order["fo_status"],
                        "fulfillmentHolds": list(order["holds"]),
                    }
                ]
            },
        }

    def _suggested(self, order: dict, lines: list[dict]) -> dict:
        oid = order["id"]
        amount = sum(order["lines"].get(li["lineItemId"], DEFAULT_PRICE) * li["quantity"] for li in lines)
        money = lambda value: {"shopMoney": {"amount": str(value), "currencyCode": "USD"}}  # noqa: E731
        parent = {"id": f"gid://shopify/OrderTransaction/{oid}1"}
        transactions = (
            [{"gateway": "bogus", "kind": "SUGGESTED_REFUND", "amountSet": money(amount), "parentTransaction": parent}]
            if amount
            else []
        )
        return {
            "id": f"gid://shopify/Order/{oid}",
            "suggestedRefund": {"amountSet": money(amount), "suggestedTransactions": transactions},
            "transactions": [
                {
                    "id": parent["id"],
                    "kind": "SALE",
                    "status": "SUCCESS",
                    "gateway": "bogus",
                    "amountSet": money(order["total"]),
                }
            ],
        }


def handler_for(store: FakeShopStore) -> type[BaseHTTPRequestHandler]:
    class ShopifyHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not PATH.match(self.path.split("?", 1)[0]):
                return self._send(404, {"errors": "Not Found"})
            token = self.headers.get("X-Shopify-Access-Token", "")
            if not token or (store.token and token != store.token):
                return self._send(
                    401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
                )
            try:
                request = json.loads(raw)
                query, variables = request["query"], request.get("variables") or {}
            except (ValueError, KeyError, TypeError):
                return self._send(400, {"errors": {"query": "Required parameter missing or invalid"}})
            status, body, headers, hang = store.answer(query, variables)
            if hang:
                store.release.wait(timeout=5)
                self.close_connection = True
                return None
            return self._send(status, body, headers)

        def do_GET(self):
            self._send(404, {"errors": "Not Found"})

        def _send(self, status: int, body: dict, headers: dict | None = None):
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            logger.debug("%s %s", self.address_string(), format % args)

    return ShopifyHandler


def serve(store: FakeShopStore, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start the fake in a background thread; ``server.server_address`` tells the port."""
    server = ThreadingHTTPServer((host, port), handler_for(store))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="A loopback stand-in for a Shopify store's Admin GraphQL API.")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=None, help="Accept only this X-Shopify-Access-Token (default: any).")
    parser.add_argument("--job-polls", type=int, default=1, help="Job polls that answer done: false first.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    store = FakeShopStore(token=args.token, job_polls=args.job_polls)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(store))
    logger.info("Fake Shopify on http://%s:%s/admin/api/<version>/graphql.json", args.host, args.port)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
