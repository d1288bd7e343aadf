"""The rows the cadence reads: plain dataclasses filled from one ``values()`` query, not model
instances (a run reads tens of thousands of lines)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from backorders.formats.text import product_name
from backorders.models import StorePolicy


@dataclass(slots=True)
class _Customer:
    """What drafting reads of a customer (a row, not a model instance: a run reads tens of thousands)."""

    pk: int
    name: str
    email: str
    phone: str
    preferred_channel: str
    sms_opt_in: bool
    erased_at: datetime | None
    orders_count: int

    def is_vip(self, policy: StorePolicy) -> bool:
        return self.orders_count >= policy.vip_min_orders


@dataclass(slots=True)
class _Order:
    pk: int
    number: str
    status: str
    placed_at: datetime
    promised_ship_by: date | None
    total: Decimal
    customer: _Customer | None


@dataclass(slots=True)
class _Product:
    pk: int
    title: str
    variant_title: str
    status: str = "active"

    @property
    def display_title(self) -> str:
        return product_name(self.title, self.variant_title)


@dataclass(slots=True)
class _Line:
    pk: int
    product_id: int
    state: str
    backordered_at: datetime
    title: str
    quantity: int
    order: _Order
    product: _Product
    shipped: int = 0
    shipped_at: datetime | None = None

    @property
    def order_id(self) -> int:
        return self.order.pk


_CUSTOMER = ("pk", "name", "email", "phone", "preferred_channel", "sms_opt_in", "erased_at", "orders_count")
_ORDER = ("number", "status", "placed_at", "promised_ship_by", "total")
LINE_VALUES = (
    "pk",
    "product_id",
    "state",
    "backordered_at",
    "title",
    "quantity",
    "order_id",
    *(f"order__{name}" for name in _ORDER),
    *(f"order__customer__{name}" for name in _CUSTOMER),
    "product__title",
    "product__variant_title",
    "product__status",
    "shipped",
    "shipped_at",
)


def _line(row: dict) -> _Line:
    customer = None
    if row["order__customer__pk"] is not None:
        customer = _Customer(*(row[f"order__customer__{name}"] for name in _CUSTOMER))
    order = _Order(row["order_id"], *(row[f"order__{name}"] for name in _ORDER), customer)
    product = _Product(row["product_id"], row["product__title"], row["product__variant_title"], row["product__status"])
    return _Line(
        row["pk"],
        row["product_id"],
        row["state"],
        row["backordered_at"],
        row["title"],
        row["quantity"],
        order,
        product,
        row["shipped"],
        row["shipped_at"],
    )
