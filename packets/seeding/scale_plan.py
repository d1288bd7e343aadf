"""The shape of a scale store: how many of everything, and the names and ids its rows carry.

Everything is derived from the number of orders and from row ids, so the seeding (``scale``) and
the benchmarks that replay intake against the seeded store (``bench/``) agree without a query.
"""

from __future__ import annotations

from dataclasses import dataclass

SHOPIFY_VARIANT_BASE = 40_000_000_000_000
FIRST = "Ada Ben Cleo Dev Ema Finn Gia Hugo Ines Jon Kai Lea Milo Nia Omar Pia Quinn Rosa Sol Tara".split()
LAST = "Adams Brooks Chen Diaz Evans Fischer Garcia Hughes Ito Jensen Kowalski Lopez Moreau Novak".split()
CITIES = [("Portland", "OR", "97205"), ("Austin", "TX", "73301"), ("Denver", "CO", "80202"), ("Boston", "MA", "02108")]


@dataclass(frozen=True)
class Plan:
    """How many of everything, derived from the number of orders."""

    orders: int

    @property
    def products(self) -> int:
        return max(20, self.orders // 100)

    @property
    def short_products(self) -> int:
        return max(2, self.products // 10)

    @property
    def suppliers(self) -> int:
        return max(4, self.products // 50)

    @property
    def customers(self) -> int:
        return max(10, self.orders // 4)

    @property
    def open_orders(self) -> int:
        return max(2, self.orders // 8)

    @property
    def cases(self) -> int:
        return max(1, min(self.open_orders, self.orders // 10))

    def is_open(self, order_id: int) -> bool:
        return order_id <= self.open_orders

    def waits(self, order_id: int) -> bool:
        return order_id <= self.cases


def product_sku(product_id: int) -> str:
    return f"SCL-{product_id:06d}"


def variant_id(product_id: int) -> str:
    return str(SHOPIFY_VARIANT_BASE + product_id)
