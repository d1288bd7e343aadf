"""Shopify Admin GraphQL: the calls store actions make, and reading an order back.

Errors come two ways, often with HTTP 200: top-level ``errors`` (THROTTLED, ACCESS_DENIED, ...)
and each mutation's own user errors. A throttled call did not run and is sent again after the
wait the cost report (or Retry-After) asks for; a call that got no answer may have run, so the
order is read back before anything is sent again. ``orderCancel`` runs as a job, polled a bounded
number of times; ``refundCreate`` carries the action's ``@idempotent`` key.
"""

from __future__ import annotations

import time
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

ORDER_CANCEL = """mutation BackorderDeskCancel($orderId: ID!, $reason: OrderCancelReason!,
  $refundMethod: OrderCancelRefundMethodInput!, $restock: Boolean!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refundMethod: $refundMethod, restock: $restock,
    notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}"""

JOB = "query BackorderDeskJob($id: ID!) { job(id: $id) { id done } }"

ORDER_STATE = """query BackorderDeskOrder($id: ID!) {
  order(id: $id) {
    id name cancelledAt displayFinancialStatus tags
    refunds(first: 50) { id note createdAt totalRefundedSet { shopMoney { amount currencyCode } } }
    fulfillmentOrders(first: 20) { nodes { id status fulfillmentHolds { id handle reason } } }
  }
}"""

SUGGESTED_REFUND = """query BackorderDeskSuggestedRefund($id: ID!, $lines: [RefundLineItemInput!]) {
  order(id: $id) {
    id
    suggestedRefund(refundLineItems: $lines) {
      amountSet { shopMoney { amount currencyCode } }
      suggestedTransactions { gateway kind amountSet { shopMoney { amount currencyCode } } parentTransaction { id } }
    }
    transactions(first: 20) { id kind status gateway amountSet { shopMoney { amount currencyCode } } }
  }
}"""

# The key is written into the document: Shopify reads it from the directive. Keys are [a-z0-9-].
REFUND_CREATE = """mutation BackorderDeskRefund($input: RefundInput!) {
  refundCreate(input: $input) @idempotent(key: "%s") {
    refund { id note totalRefundedSet { shopMoney { amount currencyCode } } }
    userErrors { field message }
  }
}"""

HOLD = """mutation BackorderDeskHold($id: ID!, $hold: FulfillmentOrderHoldInput!) {
  fulfillmentOrderHold(id: $id, fulfillmentHold: $hold) {
    fulfillmentHold { id handle }
    userErrors { field message code }
  }
}"""

RELEASE_HOLD = """mutation BackorderDeskReleaseHold($id: ID!, $holdIds: [ID!]) {
  fulfillmentOrderReleaseHold(id: $id, holdIds: $holdIds) {
    fulfillmentOrder { id status }
    userErrors { field message code }
  }
}"""

TAGS_ADD = """mutation BackorderDeskTag($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""

SHOP = "query BackorderDeskShop { shop { name } }"

DUPLICATE_HOLD = "DUPLICATE_FULFILLMENT_HOLD_HANDLE"
HOLDABLE = {"OPEN", "SCHEDULED"}


def order_gid(external_id: str) -> str:
    return f"gid://shopify/Order/{external_id}"


def line_item_gid(external_id: str) -> str:
    return f"gid://shopify/LineItem/{external_id}"


# --------------------------------------------------------------------------- transport


def endpoint() -> str:
    shop, token = settings.SHOPIFY_SHOP_URL, settings.SHOPIFY_ADMIN_TOKEN
    if not (shop and token):
        raise NotConfigured("The Shopify admin API is not configured: set SHOPIFY_SHOP_URL and SHOPIFY_ADMIN_TOKEN.")
    if "://" not in shop:
        shop = f"https://{shop}"
    return f"{shop.rstrip('/')}/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json"


def graphql(query: str, variables: dict | None = None) -> dict:
    """POST one GraphQL document; the decoded body, or a ``StoreCallError`` saying what went wrong."""
    url = endpoint()
    try:
        response = requests.post(
            url,
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": settings.SHOPIFY_ADMIN_TOKEN, "Accept": "application/json"},
            timeout=(settings.STORE_API_CONNECT_TIMEOUT, settings.STORE_API_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.ConnectTimeout as exc:
        raise NotSent(f"Could not connect to Shopify in time ({exc.__class__.__name__})") from exc
    except requests.ConnectionError as exc:
        if _refused_before_sending(exc):
            raise NotSent(f"Could not connect to Shopify ({exc.__class__.__name__})") from exc
        raise NoAnswer(f"The connection to Shopify broke before an answer ({exc.__class__.__name__})") from exc
    except requests.RequestException as exc:
        raise NoAnswer(f"Shopify did not answer in time ({exc.__class__.__name__})") from exc
    body = _json_or_text(response)
    if response.status_code == 429:
        raise Throttled(
            "Shopify answered 429 Too Many Requests",
            body=body,
            retry_after=_seconds(response.headers.get("Retry-After")) or _throttle_wait(body),
        )
    if response.status_code >= 500:
        raise NoAnswer(f"Shopify answered {response.status_code}", body=body)
    if response.status_code >= 300 or not isinstance(body, dict):
        raise Refused(f"Shopify answered {response.status_code}: {_error_text(body)}", body=body)
    errors = body.get("errors")
    if errors:
        codes = {((e.get("extensions") or {}).get("code") or "") for e in errors if isinstance(e, dict)}
        if "THROTTLED" in codes:
            raise Throttled(f"Shopify: {_error_text(body)}", body=body, retry_after=_throttle_wait(body))
        raise Refused(f"Shopify: {_error_text(body)}", body=body)
    return body


def _refused_before_sending(exc: requests.ConnectionError) -> bool:
    import urllib3.exceptions as u3

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, u3.NewConnectionError)


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _throttle_wait(body: Any) -> float | None:
    """Seconds until the leaky bucket holds enough points for the request, from the cost report."""
    if not isinstance(body, dict):
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        needed = float(cost.get("requestedQueryCost") or 0) - float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return None
    if rate <= 0:
        return None
    return max(1.0, needed / rate)


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            parts = []
            for e in errors:
                if isinstance(e, dict):
                    code = (e.get("extensions") or {}).get("code")
                    parts.append(f"{e.get('message', '')}" + (f" ({code})" if code else ""))
                else:
                    parts.append(str(e))
            return "; ".join(parts)
        if errors:
            return str(errors)
    return str(body)[:500]


def user_errors_text(errors: list[dict]) -> str:
    return "; ".join(
        (f"{'.'.join(map(str, e['field']))}: " if e.get("field") else "")
        + str(e.get("message", ""))
        + (f" ({e['code']})" if e.get("code") else "")
        for e in errors
    )


def _call(query: str, variables: dict) -> dict:
    return {"query": query, "variables": variables}


# --------------------------------------------------------------------------- reading back


def order_state(gid: str) -> dict | None:
    body = graphql(ORDER_STATE, {"id": gid})
    return (body.get("data") or {}).get("order")


def _read_order(plan: dict, *, must_exist: bool) -> tuple[dict | None, CallResult | None]:
    """The order as Shopify has it now, or the failure to report instead."""
    try:
        order = order_state(plan["order_gid"])
    except StoreCallError as exc:
        return None, failure_from(exc, _call(ORDER_STATE, {"id": plan["order_gid"]}), mutation=False)
    if order is None and must_exist:
        return None, CallResult(FAILED, error=f"Shopify has no order {plan['order_gid']}")
    return order, None


def read_back(action) -> CallResult:
    """Whether the store already shows what the action asks for (after a call with no answer)."""
    plan = action.plan
    order, failure = _read_order(plan, must_exist=True)
    if failure:
        return failure
    kind = action.kind
    done, ref = False, ""
    if kind == "cancel":
        done = bool(order.get("cancelledAt"))
    elif kind == "refund":
        keys = {action.idempotency_key, *action.previous_keys}
        for refund in order.get("refunds") or []:
            if any(key in (refund.get("note") or "") for key in keys):
                done, ref = True, refund.get("id", "")
                break
    elif kind == "tag":
        done = set(plan["tags"]) <= set(order.get("tags") or [])
    elif kind == "hold":
        found = _find_hold(order, plan["handle"])
        done, ref = found is not None, (found or {}).get("hold_id", "")
    elif kind == "release_hold":
        done = _find_hold(order, plan["handle"]) is None
    if done:
        return CallResult(SUCCEEDED, response={"order": order}, external_ref=ref, note="the store already shows it")
    return CallResult(NOT_DONE, response={"order": order})


def _find_hold(order: dict, handle: str) -> dict | None:
    for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
        for hold in fo.get("fulfillmentHolds") or []:
            if hold.get("handle") == handle:
                return {"fulfillment_order": fo["id"], "hold_id": hold["id"]}
    return None


# --------------------------------------------------------------------------- the actions


def execute(action) -> CallResult:
    return {
        "cancel": cancel,
        "refund": refund,
        "hold": hold,
        "release_hold": release_hold,
        "tag": tag,
    }[action.kind](action)


def cancel(action) -> CallResult:
    plan = action.plan
    variables = {
        "orderId": plan["order_gid"],
        "reason": "INVENTORY",
        "refundMethod": plan["refund_method"],
        "restock": False,
        "notifyCustomer": plan["notify_customer"],
        "staffNote": plan.get("staff_note", "")[:255],
    }
    request = _call(ORDER_CANCEL, variables)
    sending(action, request)
    try:
        body = graphql(ORDER_CANCEL, variables)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    payload = (body.get("data") or {}).get("orderCancel") or {}
    errors = payload.get("orderCancelUserErrors") or []
    if errors:
        # A retry on an order that is already cancelled fails its preconditions: look before failing.
        state = read_back(action)
        if state.outcome == SUCCEEDED:
            return CallResult(SUCCEEDED, request, body, note="already cancelled on Shopify")
        return CallResult(FAILED, request, body, user_errors_text(errors))
    job = payload.get("job") or {}
    if job.get("done"):
        return CallResult(SUCCEEDED, request, body, external_ref=job.get("id", ""))
    return _wait_for_job(request, body, job.get("id", ""))


def _wait_for_job(request: dict, body: dict, job_id: str) -> CallResult:
    """Poll the cancel job a bounded number of times; still running means the order is read back later."""
    if not job_id:
        return CallResult(UNKNOWN, request, body, "Shopify returned no job for the cancellation")
    for _ in range(settings.SHOPIFY_JOB_POLL_MAX):
        if settings.SHOPIFY_JOB_POLL_SECONDS:
            time.sleep(settings.SHOPIFY_JOB_POLL_SECONDS)
        try:
            answer = graphql(JOB, {"id": job_id})
        except StoreCallError as exc:
            return CallResult(UNKNOWN, request, body, f"Could not follow the cancel job: {exc.message}", job_id)
        if ((answer.get("data") or {}).get("job") or {}).get("done"):
            return CallResult(SUCCEEDED, request, {"mutation": body, "job": answer}, external_ref=job_id)
    return CallResult(UNKNOWN, request, body, "The cancel job had not finished; the order will be read back", job_id)


def refund(action) -> CallResult:
    plan = action.plan
    lines = [
        {"lineItemId": li["line_item_id"], "quantity": li["quantity"], "restockType": "CANCEL"}
        for li in plan.get("lines", [])
    ]
    suggestion_call = _call(SUGGESTED_REFUND, {"id": plan["order_gid"], "lines": lines})
    try:
        suggestion = graphql(SUGGESTED_REFUND, suggestion_call["variables"])
    except StoreCallError as exc:
        return failure_from(exc, suggestion_call, mutation=False)
    order = (suggestion.get("data") or {}).get("order")
    if order is None:
        return CallResult(FAILED, suggestion_call, suggestion, f"Shopify has no order {plan['order_gid']}")
    transactions = _refund_transactions(order, plan)
    if not transactions:
        return CallResult(FAILED, suggestion_call, suggestion, "Shopify suggests no payment that can be refunded")
    refund_input = {
        "orderId": plan["order_gid"],
        "note": f"{plan.get('note', 'Backorder Desk refund')} [{action.idempotency_key}]"[:255],
        "notify": plan.get("notify_customer", False),
        "refundLineItems": lines,
        "transactions": transactions,
    }
    document = REFUND_CREATE % action.idempotency_key
    request = _call(document, {"input": refund_input})
    sending(action, request)
    try:
        body = graphql(document, {"input": refund_input})
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    payload = (body.get("data") or {}).get("refundCreate") or {}
    if payload.get("userErrors"):
        return CallResult(FAILED, request, body, user_errors_text(payload["userErrors"]))
    created = payload.get("refund") or {}
    if not created.get("id"):
        return CallResult(UNKNOWN, request, body, "Shopify answered without a refund id")
    return CallResult(SUCCEEDED, request, body, external_ref=created["id"])


def _refund_transactions(order: dict, plan: dict) -> list[dict]:
    """The transaction(s) to refund: Shopify's suggestion, capped at the approved amount."""
    wanted = Decimal(plan["amount"]) if plan.get("amount") not in (None, "") else None
    suggested = (order.get("suggestedRefund") or {}).get("suggestedTransactions") or []
    sources = [
        (t["parentTransaction"]["id"], t["gateway"], Decimal(t["amountSet"]["shopMoney"]["amount"]))
        for t in suggested
        if t.get("parentTransaction")
    ]
    if not sources and wanted:
        # an amount with no line items: refund from the captured payment
        sources = [
            (t["id"], t["gateway"], wanted)
            for t in order.get("transactions") or []
            if t.get("kind") in {"SALE", "CAPTURE"} and t.get("status") == "SUCCESS"
        ][:1]
    result = []
    left = wanted
    for parent, gateway, amount in sources:
        if left is not None:
            amount = min(amount, left)
            left -= amount
        if amount <= 0:
            continue
        result.append(
            {"orderId": order["id"], "parentId": parent, "gateway": gateway, "kind": "REFUND", "amount": str(amount)}
        )
    return result


def hold(action) -> CallResult:
    plan = action.plan
    order, failure = _read_order(plan, must_exist=True)
    if failure:
        return failure
    existing = _find_hold(order, plan["handle"])
    if existing:
        return CallResult(SUCCEEDED, response=existing, external_ref=existing["hold_id"], note="hold already in place")
    open_orders = [fo for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or [] if fo["status"] in HOLDABLE]
    if not open_orders:
        return CallResult(FAILED, response={"order": order}, error="The order has no open fulfillment order to hold")
    fo_id = open_orders[0]["id"]
    variables = {
        "id": fo_id,
        "hold": {
            "reason": "INVENTORY_OUT_OF_STOCK",
            "reasonNotes": plan.get("reason_notes", "")[:255],
            "handle": plan["handle"],
            "notifyMerchant": False,
        },
    }
    request = _call(HOLD, variables)
    sending(action, request)
    try:
        body = graphql(HOLD, variables)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    payload = (body.get("data") or {}).get("fulfillmentOrderHold") or {}
    errors = payload.get("userErrors") or []
    if any(e.get("code") == DUPLICATE_HOLD for e in errors):
        state = read_back(action)  # our earlier attempt placed it: find its id
        return CallResult(SUCCEEDED, request, body, external_ref=state.external_ref, note="hold already in place")
    if errors:
        return CallResult(FAILED, request, body, user_errors_text(errors))
    placed = payload.get("fulfillmentHold") or {}
    return CallResult(SUCCEEDED, request, body, external_ref=placed.get("id", ""))


def release_hold(action) -> CallResult:
    """Release only our own hold (by id): without ``holdIds`` Shopify releases every app's holds."""
    plan = action.plan
    order, failure = _read_order(plan, must_exist=False)
    if failure:
        return failure
    ours = _find_hold(order or {}, plan["handle"])
    if ours is None:
        return CallResult(SUCCEEDED, response={"order": order}, note="our hold is no longer on the order")
    variables = {"id": ours["fulfillment_order"], "holdIds": [ours["hold_id"]]}
    request = _call(RELEASE_HOLD, variables)
    sending(action, request)
    try:
        body = graphql(RELEASE_HOLD, variables)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    errors = ((body.get("data") or {}).get("fulfillmentOrderReleaseHold") or {}).get("userErrors") or []
    if errors:
        return CallResult(FAILED, request, body, user_errors_text(errors))
    return CallResult(SUCCEEDED, request, body, external_ref=ours["hold_id"])


def tag(action) -> CallResult:
    plan = action.plan
    variables = {"id": plan["order_gid"], "tags": plan["tags"]}
    request = _call(TAGS_ADD, variables)
    sending(action, request)
    try:
        body = graphql(TAGS_ADD, variables)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    errors = ((body.get("data") or {}).get("tagsAdd") or {}).get("userErrors") or []
    if errors:
        return CallResult(FAILED, request, body, user_errors_text(errors))
    return CallResult(SUCCEEDED, request, body)


def check_connection() -> str:
    """The shop's name, or a ``StoreCallError``."""
    body = graphql(SHOP)
    return str(((body.get("data") or {}).get("shop") or {}).get("name") or "(no name)")
