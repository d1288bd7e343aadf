"""WooCommerce REST v3: cancel an order, create a refund, and read both back.

WooCommerce refunds take no idempotency key, so each refund carries the action's key in its
``meta_data`` (``backorder_desk_action``) and, before any retry, the order's refunds are listed
and searched for it. ``api_refund`` (default true) asks the payment gateway to return the money;
a gateway that cannot answers 500 ``woocommerce_rest_cannot_create_order_refund``, which is
shown as such, with the choice to record the refund in WooCommerce without the gateway.
Errors are ``{"code", "message", "data": {"status"}}``.
"""

from __future__ import annotations

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

MARKER = "backorder_desk_action"
CANNOT_REFUND = "woocommerce_rest_cannot_create_order_refund"


def _base() -> str:
    url, key, secret = settings.WOOCOMMERCE_URL, settings.WOOCOMMERCE_CONSUMER_KEY, settings.WOOCOMMERCE_CONSUMER_SECRET
    if not (url and key and secret):
        raise NotConfigured(
            "The WooCommerce REST API is not configured: set WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY "
            "and WOOCOMMERCE_CONSUMER_SECRET."
        )
    if not url.lower().startswith("https://") and not settings.WOOCOMMERCE_ALLOW_HTTP:
        # the keys go as HTTP basic auth: over plain http they would cross the network in clear
        raise NotConfigured(
            f"WOOCOMMERCE_URL must start with https:// (got {url.split('://')[0]}://): the API keys travel "
            "with every request. WOOCOMMERCE_ALLOW_HTTP=true allows http:// for a local stand-in only."
        )
    return f"{url.rstrip('/')}/wp-json/wc/v3"


def call(method: str, path: str, body: dict | None = None, params: dict | None = None) -> Any:
    """One REST call; the decoded body, or a ``StoreCallError``."""
    url = _base() + path
    try:
        response = requests.request(
            method,
            url,
            json=body,
            params=params,
            auth=(settings.WOOCOMMERCE_CONSUMER_KEY, settings.WOOCOMMERCE_CONSUMER_SECRET),
            headers={"Accept": "application/json"},
            timeout=(settings.STORE_API_CONNECT_TIMEOUT, settings.STORE_API_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.ConnectTimeout as exc:
        raise NotSent(f"Could not connect to WooCommerce in time ({exc.__class__.__name__})") from exc
    except requests.ConnectionError as exc:
        from .shopify import _refused_before_sending

        if _refused_before_sending(exc):
            raise NotSent(f"Could not connect to WooCommerce ({exc.__class__.__name__})") from exc
        raise NoAnswer(f"The connection to WooCommerce broke before an answer ({exc.__class__.__name__})") from exc
    except requests.RequestException as exc:
        raise NoAnswer(f"WooCommerce did not answer in time ({exc.__class__.__name__})") from exc
    try:
        data = response.json()
    except ValueError:
        data = response.text[:2000]
    status = response.status_code
    if status < 300:
        return data
    message = _error_text(status, data)
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        raise Throttled(message, body=data, retry_after=float(retry_after) if (retry_after or "").isdigit() else None)
    if status >= 500 and not (isinstance(data, dict) and data.get("code") == CANNOT_REFUND):
        raise NoAnswer(message, body=data)
    raise Refused(message, body=data)


def _error_text(status: int, data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return f"WooCommerce answered {status}: {data['message']} ({data.get('code', 'no code')})"
    return f"WooCommerce answered {status}: {str(data)[:300]}"


# --------------------------------------------------------------------------- reading back


def read_back(action) -> CallResult:
    order_id = action.plan["order_id"]
    try:
        if action.kind == "cancel":
            order = call("GET", f"/orders/{order_id}")
            if isinstance(order, dict) and order.get("status") == "cancelled":
                return CallResult(SUCCEEDED, response=order, note="already cancelled on WooCommerce")
            return CallResult(NOT_DONE, response=order)
        refunds = call("GET", f"/orders/{order_id}/refunds", params={"per_page": 100})
    except StoreCallError as exc:
        return failure_from(exc, {"method": "GET", "path": f"/orders/{order_id}"}, mutation=False)
    found = find_marked_refund(refunds, {action.idempotency_key, *action.previous_keys})
    if found is not None:
        return CallResult(SUCCEEDED, response=found, external_ref=str(found.get("id", "")), note="refund already made")
    return CallResult(NOT_DONE, response={"refunds": refunds})


def find_marked_refund(refunds: Any, keys: set[str]) -> dict | None:
    for refund in refunds if isinstance(refunds, list) else []:
        for meta in refund.get("meta_data") or []:
            if meta.get("key") == MARKER and meta.get("value") in keys:
                return refund
    return None


# --------------------------------------------------------------------------- the actions


def execute(action) -> CallResult:
    if action.kind == "cancel":
        return cancel(action)
    if action.kind == "refund":
        return refund(action)
    return CallResult(FAILED, error=f"WooCommerce has no {action.get_kind_display().lower()} that this desk uses")


def cancel(action) -> CallResult:
    order_id = action.plan["order_id"]
    request = {"method": "PUT", "path": f"/wp-json/wc/v3/orders/{order_id}", "body": {"status": "cancelled"}}
    sending(action, request)
    try:
        order = call("PUT", f"/orders/{order_id}", {"status": "cancelled"})
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    if isinstance(order, dict) and order.get("status") == "cancelled":
        return CallResult(SUCCEEDED, request, order, external_ref=str(order.get("id", "")))
    return CallResult(FAILED, request, order, f"WooCommerce kept the order as {order.get('status')!r}")


def refund(action) -> CallResult:
    plan = action.plan
    order_id = plan["order_id"]
    body = {
        "amount": str(plan["amount"]),
        "reason": plan.get("reason", "")[:200],
        "api_refund": plan.get("api_refund", True),
        "line_items": plan.get("line_items", []),
        "meta_data": [{"key": MARKER, "value": action.idempotency_key}],
    }
    request = {"method": "POST", "path": f"/wp-json/wc/v3/orders/{order_id}/refunds", "body": body}
    sending(action, request)
    try:
        created = call("POST", f"/orders/{order_id}/refunds", body)
    except Refused as exc:
        cannot = isinstance(exc.body, dict) and exc.body.get("code") == CANNOT_REFUND
        message = exc.message
        if cannot:
            message += (
                ". The payment gateway cannot refund automatically: return the money in the gateway's dashboard "
                "and record the refund in WooCommerce without the gateway."
            )
        return CallResult(FAILED, request, exc.body, message, gateway_cannot_refund=cannot)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    if not isinstance(created, dict) or not created.get("id"):
        return CallResult(UNKNOWN, request, created, "WooCommerce answered without a refund id")
    return CallResult(SUCCEEDED, request, created, external_ref=str(created["id"]))


def check_connection() -> str:
    status = call("GET", "/system_status")
    environment = status.get("environment", {}) if isinstance(status, dict) else {}
    return f"WooCommerce {environment.get('version', '?')} at {environment.get('site_url', settings.WOOCOMMERCE_URL)}"
