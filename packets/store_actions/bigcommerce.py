"""BigCommerce: cancel an order (V2), refund through payment actions (V3), and read both back.

Cancel is ``PUT /v2/orders/{id}`` with ``status_id`` 5 (Cancelled). A refund is two calls: a refund
quote (``POST /v3/orders/{id}/payment_actions/refund_quotes``) names how the money can go back
(``refund_methods``, the first one offered is used), then ``POST .../payment_actions/refunds``
with the same items and that method's payments. BigCommerce takes no idempotency key, so the
refunded item's ``reason`` carries the action's key and, before any retry, the order's refunds
(``GET .../payment_actions/refunds``) are searched for it. Errors are ``{status, title, errors}``
(V3) or ``[{status, message}]`` (V2); the platform's own words are shown on the case.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests
from django.conf import settings

from .results import (
    FAILED,
    NOT_DONE,
    SUCCEEDED,
    UNKNOWN,
    CallResult,
    NoAnswer,
    NotConfigured,
    NotSent,
    Refused,
    StoreCallError,
    Throttled,
    failure_from,
    sending,
)

CANCELLED = 5
MARKER = "Backorder Desk"


def _base() -> str:
    store, token = settings.BIGCOMMERCE_STORE_HASH, settings.BIGCOMMERCE_ACCESS_TOKEN
    if not (store and token):
        raise NotConfigured(
            "The BigCommerce API is not configured: set BIGCOMMERCE_STORE_HASH and BIGCOMMERCE_ACCESS_TOKEN."
        )
    url = settings.BIGCOMMERCE_API_URL
    if not url.lower().startswith("https://") and not settings.PLATFORM_API_ALLOW_HTTP:
        raise NotConfigured(
            "BIGCOMMERCE_API_URL must start with https://: the access token travels with every request."
        )
    return f"{url}/stores/{store}"


def call(method: str, path: str, body: dict | list | None = None, params: dict | None = None) -> Any:
    """One API call; the decoded body, or a ``StoreCallError``."""
    url = _base() + path
    try:
        response = requests.request(
            method,
            url,
            json=body,
            params=params,
            headers={"X-Auth-Token": settings.BIGCOMMERCE_ACCESS_TOKEN, "Accept": "application/json"},
            timeout=(settings.STORE_API_CONNECT_TIMEOUT, settings.STORE_API_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.ConnectTimeout as exc:
        raise NotSent(f"Could not connect to BigCommerce in time ({exc.__class__.__name__})") from exc
    except requests.ConnectionError as exc:
        from .shopify import _refused_before_sending

        if _refused_before_sending(exc):
            raise NotSent(f"Could not connect to BigCommerce ({exc.__class__.__name__})") from exc
        raise NoAnswer(f"The connection to BigCommerce broke before an answer ({exc.__class__.__name__})") from exc
    except requests.RequestException as exc:
        raise NoAnswer(f"BigCommerce did not answer in time ({exc.__class__.__name__})") from exc
    try:
        data = response.json() if response.content else None
    except ValueError:
        data = response.text[:2000]
    status = response.status_code
    if status < 300:
        return data
    message = _error_text(status, data)
    if status == 429:
        wait = response.headers.get("X-Rate-Limit-Time-Reset-Ms", "")
        raise Throttled(message, body=data, retry_after=int(wait) / 1000 if wait.isdigit() else None)
    if status >= 500:
        raise NoAnswer(message, body=data)
    raise Refused(message, body=data)


def _error_text(status: int, data: Any) -> str:
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        words = data.get("title") or data.get("message") or ""
        details = data.get("errors") or {}
        if isinstance(details, dict) and details:
            words += " (" + "; ".join(f"{k}: {v}" for k, v in details.items()) + ")"
        if words:
            return f"BigCommerce answered {status}: {words}"
    return f"BigCommerce answered {status}: {str(data)[:300]}"


# --------------------------------------------------------------------------- reading back


def find_marked_refund(refunds: Any, keys: set[str]) -> dict | None:
    for refund in (refunds or {}).get("data", []) if isinstance(refunds, dict) else []:
        reasons = [refund.get("reason") or ""] + [i.get("reason") or "" for i in refund.get("items") or []]
        if any(key in reason for reason in reasons for key in keys):
            return refund
    return None


def read_back(action) -> CallResult:
    order_id = action.plan["order_id"]
    try:
        if action.kind == "cancel":
            order = call("GET", f"/v2/orders/{order_id}")
            if isinstance(order, dict) and order.get("status_id") == CANCELLED:
                return CallResult(SUCCEEDED, response=order, note="already cancelled on BigCommerce")
            return CallResult(NOT_DONE, response=order)
        refunds = call("GET", f"/v3/orders/{order_id}/payment_actions/refunds")
    except StoreCallError as exc:
        return failure_from(exc, {"method": "GET", "path": f"/v2/orders/{order_id}"}, mutation=False)
    found = find_marked_refund(refunds, {action.idempotency_key, *action.previous_keys})
    if found is not None:
        return CallResult(SUCCEEDED, response=found, external_ref=str(found.get("id", "")), note="refund already made")
    return CallResult(NOT_DONE, response=refunds if isinstance(refunds, dict) else {"body": refunds})


# --------------------------------------------------------------------------- the actions


def execute(action) -> CallResult:
    if action.kind == "cancel":
        return cancel(action)
    if action.kind == "refund":
        return refund(action)
    return CallResult(FAILED, error=f"BigCommerce has no {action.get_kind_display().lower()} that this desk uses")


def cancel(action) -> CallResult:
    order_id = action.plan["order_id"]
    request = {"method": "PUT", "path": f"/v2/orders/{order_id}", "body": {"status_id": CANCELLED}}
    sending(action, request)
    try:
        order = call("PUT", f"/v2/orders/{order_id}", {"status_id": CANCELLED})
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    if isinstance(order, dict) and order.get("status_id") == CANCELLED:
        return CallResult(SUCCEEDED, request, order, external_ref=str(order.get("id", "")))
    kept = order.get("status") if isinstance(order, dict) else order
    return CallResult(FAILED, request, order, f"BigCommerce kept the order as {kept!r}")


def refund(action) -> CallResult:
    order_id = action.plan["order_id"]
    amount = float(Decimal(action.plan["amount"]))
    reason = f"{MARKER} {action.idempotency_key}: {action.plan.get('reason', '')}"[:1000]
    items = [{"item_type": "ORDER", "item_id": int(order_id), "amount": amount, "reason": reason}]
    quote_path = f"/v3/orders/{order_id}/payment_actions/refund_quotes"
    try:
        quote = call("POST", quote_path, {"items": items})
    except StoreCallError as exc:
        return failure_from(exc, {"method": "POST", "path": quote_path, "body": {"items": items}}, mutation=False)
    methods = ((quote or {}).get("data") or {}).get("refund_methods") or []
    if not methods or not methods[0]:
        return CallResult(
            FAILED, {"method": "POST", "path": quote_path}, quote, "BigCommerce offered no way to refund this order"
        )
    payments = [
        {"provider_id": m.get("provider_id"), "amount": m.get("amount"), "offline": bool(m.get("offline"))}
        for m in methods[0]
    ]
    body = {"items": items, "payments": payments}
    path = f"/v3/orders/{order_id}/payment_actions/refunds"
    request = {"method": "POST", "path": path, "body": body}
    sending(action, request)
    try:
        created = call("POST", path, body)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    made = (created or {}).get("data") if isinstance(created, dict) else None
    if not isinstance(made, dict) or not made.get("id"):
        return CallResult(UNKNOWN, request, created, "BigCommerce answered without a refund id")
    return CallResult(SUCCEEDED, request, created, external_ref=str(made["id"]))


def check_connection() -> str:
    store = call("GET", "/v2/store")
    return f"BigCommerce store {store.get('name', '?')} ({store.get('domain', settings.BIGCOMMERCE_STORE_HASH)})"
