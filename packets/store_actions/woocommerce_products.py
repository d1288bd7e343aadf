"""WooCommerce REST v3 for product actions: ``backorders`` and the wording's ``meta_data``.

The desk keeps one id per product: a simple product's, or a variation's. The product is read
first (``GET /products/<id>``, which answers for a variation too, with ``type: variation`` and
its ``parent_id``): a variation's ``backorders`` is set through
``PUT /products/<parent>/variations/<id>``, its wording on the parent product (the page
customers see). The value ``backorders`` had before a stop is kept in the action's response, so
resuming puts it back.
"""

from __future__ import annotations

from typing import Any

from .results import FAILED, NOT_DONE, SUCCEEDED, CallResult, StoreCallError, failure_from, sending
from .woocommerce import call

API = "/wp-json/wc/v3"


def _paths(product: Any, product_id: str) -> tuple[str, str]:
    """(where its ``backorders`` is set, where its page's meta is set)."""
    if isinstance(product, dict) and product.get("type") == "variation" and product.get("parent_id"):
        parent = product["parent_id"]
        return f"/products/{parent}/variations/{product_id}", f"/products/{parent}"
    return f"/products/{product_id}", f"/products/{product_id}"


def _meta(product: Any, key: str) -> str:
    metas = product.get("meta_data") if isinstance(product, dict) else None
    for meta in metas or []:
        if isinstance(meta, dict) and meta.get("key") == key:
            return str(meta.get("value") or "")
    return ""


def _read(path: str) -> Any:
    return call("GET", path)


def shows(kind: str, plan: dict, selling: Any, page: Any) -> bool:
    if kind in {"stop_selling", "resume_selling"}:
        return isinstance(selling, dict) and selling.get("backorders") == plan["backorders"]
    return _meta(page, plan["meta_key"]) == plan["text"]


def _state(plan: dict) -> tuple[Any, Any, tuple[str, str]]:
    """The product (or variation), its page's product, and both paths."""
    product_id = plan["product_id"]
    product = _read(f"/products/{product_id}")
    paths = _paths(product, product_id)
    page = product if paths[1] == f"/products/{product_id}" else _read(paths[1])
    return product, page, paths


def read_back(action) -> CallResult:
    try:
        product, page, _ = _state(action.plan)
    except StoreCallError as exc:
        return failure_from(
            exc, {"method": "GET", "path": f"{API}/products/{action.plan['product_id']}"}, mutation=False
        )
    if shows(action.kind, action.plan, product, page):
        return CallResult(SUCCEEDED, response={"product": product}, note="the store already shows it")
    return CallResult(NOT_DONE, response={"product": product})


def execute(action) -> CallResult:
    plan = action.plan
    try:
        product, page, (selling_path, page_path) = _state(plan)
    except StoreCallError as exc:
        return failure_from(exc, {"method": "GET", "path": f"{API}/products/{plan['product_id']}"}, mutation=False)
    if action.kind in {"stop_selling", "resume_selling"}:
        path, body = selling_path, {"backorders": plan["backorders"]}
        before = {"backorders": product.get("backorders") if isinstance(product, dict) else None}
    else:
        path, body = page_path, {"meta_data": [{"key": plan["meta_key"], "value": plan["text"]}]}
        before = {"wording": _meta(page, plan["meta_key"])}
    request = {"method": "PUT", "path": f"{API}{path}", "body": body}
    sending(action, request)
    try:
        updated = call("PUT", path, body)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    response = {"before": before, "product": updated}
    if action.kind in {"stop_selling", "resume_selling"} and not shows(action.kind, plan, updated, None):
        kept = updated.get("backorders") if isinstance(updated, dict) else updated
        return CallResult(FAILED, request, response, f"WooCommerce kept backorders as {kept!r}")
    ref = str(updated.get("id", "")) if isinstance(updated, dict) else ""
    return CallResult(SUCCEEDED, request, response, external_ref=ref)
