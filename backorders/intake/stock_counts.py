"""A counted stock level for a SKU, as BigCommerce and Magento report it: kept on the product by SKU."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from ..allocation import apply_stock_count
from ..models import Product
from .common import MappingError


def count_sku(sku: str, level, *, title: str = "", price: Decimal | None = None, reference: str) -> str:
    """Set the SKU's on-hand count (a new product when the SKU is new). Returns what was done, in words."""
    sku = (sku or "").strip()[:128]
    if not sku:
        raise MappingError("a stock level names no SKU")
    try:
        count = max(0, int(Decimal(str(level))))  # negative when the platform took backorders
    except (ArithmeticError, TypeError, ValueError):
        raise MappingError(f"stock level {level!r} for {sku} is not a number") from None
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        try:
            with transaction.atomic():
                product = Product.objects.create(
                    sku=sku, title=(title or sku)[:255], price=price or Decimal("0.00"), on_hand=0
                )
        except IntegrityError:
            product = Product.objects.get(sku=sku)
    apply_stock_count(product.pk, count, reference=reference[:64])
    return f"{sku}: on hand counted at {count}"
