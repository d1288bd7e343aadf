"""The catalog products an order's lines name: matched by channel id, then SKU, in one query for
an order's lines (or from the products a batch read at its start); a line naming none gets a new
zero-stock product, flagged as made for an unknown SKU."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import slugify

from ..models import Product
from . import batch_state


class LineFacts(Protocol):
    """What a line says of its product (``orders.LineFacts`` has it)."""

    sku: str
    title: str
    variant_title: str
    unit_price: Decimal
    shopify_variant_id: str
    woocommerce_id: str


def known_products(lines: list[LineFacts]) -> dict[int, Product]:
    """The catalog products these lines name, in one query: ``{id(line): product}`` for those found.

    Matched as ``find_or_create_product`` matches one line: by channel id, then SKU. Inside a
    batch the products it read at its start serve, when they match every line.
    """
    variants = {lf.shopify_variant_id for lf in lines if lf.shopify_variant_id}
    woo = {lf.woocommerce_id for lf in lines if lf.woocommerce_id}
    skus = {lf.sku for lf in lines if lf.sku}
    if not (variants or woo or skus):
        return {}
    kept = batch_state.kept_catalog()
    if kept is not None:
        found = match_products(lines, kept)
        if len(found) == len(lines):
            return found
    wanted = Q(shopify_variant_id__in=variants) | Q(woocommerce_id__in=woo) | Q(sku__in=skus)
    return match_products(lines, Product.objects.filter(wanted))  # in the catalog's order, as .first() would pick


def match_products(lines: list[LineFacts], products) -> dict[int, Product]:
    by: dict[str, dict[str, Product]] = {"variant": {}, "woo": {}, "sku": {}}
    for product in products:
        by["variant"].setdefault(product.shopify_variant_id, product)
        by["woo"].setdefault(product.woocommerce_id, product)
        by["sku"].setdefault(product.sku, product)
    found = {}
    for lf in lines:
        product = (
            (lf.shopify_variant_id and by["variant"].get(lf.shopify_variant_id))
            or (lf.woocommerce_id and by["woo"].get(lf.woocommerce_id))
            or (lf.sku and by["sku"].get(lf.sku))
        )
        if product:
            found[id(lf)] = product
    return found


def find_or_create_product(lf: LineFacts, channel: str) -> tuple[Product, bool]:
    """The catalog product a line names: by channel id, then SKU; else a new zero-stock product, flagged."""
    product = None
    if lf.shopify_variant_id:
        product = Product.objects.filter(shopify_variant_id=lf.shopify_variant_id).first()
    if product is None and lf.woocommerce_id:
        product = Product.objects.filter(woocommerce_id=lf.woocommerce_id).first()
    if product is None and lf.sku:
        product = Product.objects.filter(sku=lf.sku).first()
    if product is not None:
        return product, False
    sku = lf.sku or placeholder_sku(channel, lf)
    try:
        with transaction.atomic():
            product = Product.objects.create(
                sku=sku[:128],
                title=(lf.title or sku)[:255],
                variant_title=lf.variant_title[:255],
                price=max(lf.unit_price, Decimal("0.00")),
                on_hand=0,
                created_from_unknown_sku=True,
                shopify_variant_id=lf.shopify_variant_id,
                woocommerce_id=lf.woocommerce_id,
            )
    except IntegrityError:
        return Product.objects.get(sku=sku[:128]), False
    return product, True


def placeholder_sku(channel: str, lf: LineFacts) -> str:
    """A stable SKU for a line that came without one, so the same line maps to the same product."""
    if lf.shopify_variant_id:
        return f"shopify-variant-{lf.shopify_variant_id}"
    if lf.woocommerce_id:
        return f"woocommerce-{lf.woocommerce_id}"
    return f"{channel}-nosku-{slugify(lf.title) or 'item'}"[:128]
