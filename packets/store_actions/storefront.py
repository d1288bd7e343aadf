"""What a product action asks of the store: stop or resume selling, and the backorder wording.

A pure reading of the product and the store's policy, like ``preview`` for orders: which product
on which store (``target``), which variants, and what is written there. The same plan is shown
before approval and stored on the action row.

* Shopify: one ``productVariantsBulkUpdate`` per product, with every variant of it the desk knows
  (``inventoryPolicy`` ``DENY`` to stop, ``CONTINUE`` to resume); the wording is the product's
  metafield ``backorder_desk.backorder_message`` (``single_line_text_field``).
* WooCommerce: the product's (or variation's) ``backorders`` to ``no``, and back to the value it
  had before the stop (``notify`` when it was already ``no``); the wording is the product's
  ``meta_data`` ``_backorder_desk_message``, set empty to remove it.
"""

from __future__ import annotations

import math
from datetime import date

from backorders.models import Product, StorePolicy

from ..models import StoreAction
from ..notify import guidelines

Kind = StoreAction.Kind
Platform = StoreAction.Platform

METAFIELD_NAMESPACE = "backorder_desk"
METAFIELD_KEY = "backorder_message"
METAFIELD_TYPE = "single_line_text_field"
WOO_META_KEY = "_backorder_desk_message"
WOO_RESUME_DEFAULT = "notify"
WOO_SELLING = {"notify", "yes"}
WORDING_MAX = 255  # a single-line text field on a product page
SELLING_KINDS = frozenset({Kind.STOP_SELLING, Kind.RESUME_SELLING})
WORDING_KINDS = frozenset({Kind.SET_WORDING, Kind.CLEAR_WORDING})
OPPOSITE = {
    Kind.STOP_SELLING: Kind.RESUME_SELLING,
    Kind.RESUME_SELLING: Kind.STOP_SELLING,
    Kind.SET_WORDING: Kind.CLEAR_WORDING,
    Kind.CLEAR_WORDING: Kind.SET_WORDING,
}


def product_gid(product_id: str) -> str:
    return f"gid://shopify/Product/{product_id}"


def variant_gid(variant_id: str) -> str:
    return f"gid://shopify/ProductVariant/{variant_id}"


def platform_of(product: Product) -> str | None:
    """The store the product is sold on, as far as the desk knows its ids (Shopify first)."""
    if product.shopify_product_id:
        return Platform.SHOPIFY
    if product.woocommerce_id:
        return Platform.WOOCOMMERCE
    return None


def target_of(product: Product, platform: str) -> str:
    return product.shopify_product_id if platform == Platform.SHOPIFY else product.woocommerce_id


def variants_of(product: Product) -> list[Product]:
    """The variants one Shopify call covers: every one the desk knows of the same Shopify product."""
    if not product.shopify_product_id:
        return []
    return list(
        Product.objects.filter(shopify_product_id=product.shopify_product_id)
        .exclude(shopify_variant_id="")
        .order_by("sku")
    )


def selling_plan(
    product: Product, kind: str, platform: str, *, before: str = "", product_status: str = ""
) -> dict | None:
    """The plan to stop (or resume) selling ``product`` on ``platform``; None when the desk lacks its ids.

    ``product_status`` (Shopify): ``DRAFT`` with a stop when the policy hides stopped products,
    ``ACTIVE`` with the resume of a stop that did."""
    stop = kind == Kind.STOP_SELLING
    base = {"sku": product.sku, "title": product.display_title, "free_units": max(0, product.available)}
    if platform == Platform.SHOPIFY:
        variants = variants_of(product)
        if not variants:
            return None
        plan = {
            **base,
            "product_gid": product_gid(product.shopify_product_id),
            "variants": [{"gid": variant_gid(v.shopify_variant_id), "sku": v.sku} for v in variants],
            "policy": "DENY" if stop else "CONTINUE",
        }
        if product_status:
            plan["product_status"] = product_status
        return plan
    if not product.woocommerce_id:
        return None
    value = "no" if stop else (before if before in WOO_SELLING else WOO_RESUME_DEFAULT)
    return {**base, "product_id": product.woocommerce_id, "backorders": value}


def wording_plan(product: Product, kind: str, platform: str, text: str = "") -> dict | None:
    """The plan to write (or remove) the backorder wording on the product's page."""
    text = text.strip() if kind == Kind.SET_WORDING else ""
    base = {"sku": product.sku, "title": product.display_title, "text": text, "free_units": max(0, product.available)}
    if platform == Platform.SHOPIFY:
        if not product.shopify_product_id:
            return None
        return {
            **base,
            "product_gid": product_gid(product.shopify_product_id),
            "namespace": METAFIELD_NAMESPACE,
            "key": METAFIELD_KEY,
            "type": METAFIELD_TYPE,
        }
    if not product.woocommerce_id:
        return None
    return {**base, "product_id": product.woocommerce_id, "meta_key": WOO_META_KEY}


def wording_issues(text: str, product: Product, policy: StorePolicy | None = None) -> list[str]:
    """What is wrong with ``text`` as the product page's backorder wording: the message guidelines,
    no date at all (a range of weeks instead), one short line."""
    policy = policy or StorePolicy.objects.current()
    text = (text or "").strip()
    issues = guidelines.check(
        text, "sms", policy, item_gone=product.status == Product.Status.DISCONTINUED, parcel_moving=False
    )
    if text and guidelines.DATE_PATTERN.search(text):
        issues.append("It names a date: say a range of weeks instead (“Ships in 3–5 weeks”).")
    if "\n" in text:
        issues.append("It has more than one line: the product page shows one.")
    if len(text) > WORDING_MAX:
        issues.append(f"It is {len(text)} characters long; the product page takes {WORDING_MAX}.")
    return issues


def weeks_wording(start: date, end: date, today: date) -> str:
    """“Backordered: ships in 3–5 weeks.” for an ETA range, counted from ``today``, never a date."""
    low = max(1, math.ceil((start - today).days / 7))
    high = max(low, math.ceil((end - today).days / 7))
    if high == 1:
        return "Backordered: ships within a week."
    span = f"{low}–{high}" if high > low else f"{high}"
    return f"Backordered: ships in {span} weeks."


def describe(kind: str, platform: str, plan: dict) -> str:
    """The plan in plain words, as shown before approval and beside the action."""
    store = Platform(platform).label
    what = f"{plan.get('title') or plan.get('sku', '?')} ({plan.get('sku', '?')})"
    if kind in SELLING_KINDS and platform == Platform.SHOPIFY:
        count = len(plan.get("variants", []))
        variants = f"{count} variant{'s' if count != 1 else ''}"
        status = {"DRAFT": ", and the product set to draft", "ACTIVE": ", and the product set active again"}.get(
            plan.get("product_status", ""), ""
        )
        if kind == Kind.STOP_SELLING:
            return (
                f"Will stop selling {what} on Shopify when out of stock: {variants} set to deny orders (DENY){status}."
            )
        return (
            f"Will resume selling {what} on Shopify: {variants} set to take orders when out of stock (CONTINUE)"
            f"{status}."
        )
    if kind == Kind.STOP_SELLING:
        return f"Will stop selling {what} on {store} when out of stock: backorders set to “no”."
    if kind == Kind.RESUME_SELLING:
        return f"Will resume selling {what} on {store}: backorders set back to “{plan.get('backorders')}”."
    if kind == Kind.SET_WORDING:
        return f"Will show “{plan.get('text', '')}” on the product page of {what} on {store}."
    return f"Will remove the backorder wording from the product page of {what} on {store}."
