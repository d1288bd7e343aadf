"""A store at scale, for benchmarks: written with PostgreSQL ``COPY``, consistent by construction.

``seed_scale(orders=200_000)`` builds, deterministically:

- ``orders // 100`` products (one in ten short: every unit allocated), each with a primary
  supplier source, and an out-of-stock supplier update for each short product;
- ``orders // 4`` customers;
- ``orders // 8`` open orders with four lines each (``orders // 2`` open lines); ``orders // 10``
  of them wait on a short product (their first line is backordered), the rest are allocated;
- the other orders fulfilled, two shipped lines each, with a delivered shipment;
- one open backorder case per waiting order, each with a contract-shaped packet (version 1) and
  its ``case.opened`` audit row;
- the owner and support logins of the demo store.

Stock follows the lines: a product's ``allocated`` is the sum of its lines' unshipped allocated
units, and ``on_hand`` covers it. Ids are assigned here and the sequences moved past them.

It replaces the whole store, so it refuses a database holding anything it did not seed itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from backorders.bulk import copy_rows
from backorders.models import Customer, Order, OrderLine, Product, Shipment, StorePolicy
from packets.models import AuditEvent, Case, Packet
from packets.seeding.scale_cases import CaseRows
from packets.seeding.scale_plan import CITIES, FIRST, LAST, Plan, product_sku, variant_id
from suppliers.models import Supplier, SupplierSource, SupplierUpdate

MARKER_SUPPLIER = "scale-00"  # the first supplier's code marks a store this module seeded
KEEP_TABLES = {"django_migrations", "django_content_type", "auth_permission", "auth_group", "auth_group_permissions"}


class SeedRefused(Exception):
    """The database holds a store that this module did not seed: it is never wiped."""


@dataclass
class SeedSummary:
    orders: int
    open_lines: int
    cases: int
    products: int
    seconds: float


# --------------------------------------------------------------------------- COPY


def move_sequences(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            query = sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(max(id), 0) + 1, false) FROM {}")
            cursor.execute(query.format(sql.Identifier(table)), [table])


# --------------------------------------------------------------------------- the store


def is_scale_store() -> bool:
    return Supplier.objects.filter(code=MARKER_SUPPLIER).exists()


def wipe() -> None:
    """Empty every table except the schema's own (migrations, content types, permissions, groups)."""
    tables = [t for t in connection.introspection.django_table_names(only_existing=True) if t not in KEEP_TABLES]
    tables += [t for t in connection.introspection.table_names() if t.startswith("django_q_") and t not in tables]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(sorted(set(tables)))} RESTART IDENTITY CASCADE")


def seed_scale(orders: int = 200_000, *, force: bool = False, now: datetime | None = None, log=None) -> SeedSummary:
    """Replace the store with a scale store of ``orders`` orders (see the module's docstring)."""
    if orders < 20:
        raise ValueError("A scale store has at least 20 orders.")
    if Order.objects.exists() and not is_scale_store() and not force:
        raise SeedRefused(
            "This database holds a store that seed_scale did not make; it is never wiped. "
            "Point DATABASE_URL at a database of its own (or pass --force)."
        )
    started = time.monotonic()
    now = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    plan = Plan(orders)
    say = log or (lambda text: None)
    with transaction.atomic():
        wipe()
        from packets.seeding.demo import ensure_users  # the owner and support logins of the demo store

        ensure_users()
        policy = StorePolicy.objects.current()
        _Writer(plan, now, policy, say).write()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return SeedSummary(
        orders=orders,
        open_lines=plan.open_orders * 4,
        cases=plan.cases,
        products=plan.products,
        seconds=time.monotonic() - started,
    )


class _Writer(CaseRows):
    def __init__(self, plan: Plan, now: datetime, policy: StorePolicy, say):
        self.plan, self.now, self.policy, self.say = plan, now, policy, say
        self.rules = policy.rule_text()
        self.allocated: dict[int, int] = {}

    def write(self) -> None:
        self.step("suppliers and products", self.write_catalog)
        self.step("customers", self.write_customers)
        self.step("orders", self.write_orders)
        self.step("order lines", self.write_lines)
        self.step("stock", self.write_stock)
        self.step("shipments", self.write_shipments)
        self.step("cases, packets and audit", self.write_cases)
        move_sequences(
            *(
                m._meta.db_table
                for m in (Supplier, Product, SupplierSource, SupplierUpdate, Customer, Order, OrderLine, Shipment)
            ),
            *(m._meta.db_table for m in (Case, Packet, AuditEvent)),
        )

    def step(self, label: str, fn) -> None:
        started = time.monotonic()
        fn()
        self.say(f"  {label}: {time.monotonic() - started:.1f}s")

    # catalog ---------------------------------------------------------------------------

    def supplier_of(self, product_id: int) -> int:
        return (product_id - 1) % self.plan.suppliers + 1

    def is_short(self, product_id: int) -> bool:
        return product_id <= self.plan.short_products

    def write_catalog(self) -> None:
        p = self.plan
        copy_rows(
            Supplier,
            ["id", "name", "code", "email", "transit_days"],
            (
                (n, f"Scale Supplier {n:02d}", f"scale-{n - 1:02d}", f"orders@supplier{n}.example", 2 + n % 5)
                for n in range(1, p.suppliers + 1)
            ),
        )
        copy_rows(
            Product,
            ["id", "sku", "title", "variant_title", "price", "cost", "shopify_variant_id", "product_page_wording"],
            (
                (
                    n,
                    product_sku(n),
                    f"Scale item {n // 3}",
                    ["Small", "Medium", "Large"][n % 3],
                    Decimal(20 + n % 80),
                    Decimal(8 + n % 30),
                    variant_id(n),
                    "Ships in 1–3 business days",
                )
                for n in range(1, p.products + 1)
            ),
        )
        copy_rows(
            SupplierSource,
            ["id", "supplier_id", "product_id", "role", "unit_cost", "lead_time_days"],
            ((n, self.supplier_of(n), n, "primary", Decimal(8 + n % 30), 5 + n % 10) for n in range(1, p.products + 1)),
        )
        copy_rows(
            SupplierUpdate,
            ["id", "supplier_id", "product_id", "kind", "stock_status", "strength", "source_text", "received_at"],
            (
                (
                    n,
                    self.supplier_of(n),
                    n,
                    "stock_status",
                    "out_of_stock",
                    "weak",
                    "Out for now, next lot in about three weeks.",
                    self.now - timedelta(days=1 + n % 5),
                )
                for n in range(1, p.short_products + 1)
            ),
        )

    def write_customers(self) -> None:
        copy_rows(
            Customer,
            ["id", "email", "name", "orders_count", "created_at"],
            (
                (n, f"customer{n}@example.com", self.customer_name(n), n % 6, self.now - timedelta(days=400))
                for n in range(1, self.plan.customers + 1)
            ),
        )

    @staticmethod
    def customer_name(n: int) -> str:
        return f"{FIRST[n % len(FIRST)]} {LAST[(n // len(FIRST)) % len(LAST)]}"

    # orders ---------------------------------------------------------------------------

    def placed_at(self, order_id: int) -> datetime:
        if self.plan.is_open(order_id):
            return self.now - timedelta(days=order_id % 20, minutes=order_id % 1440)
        return self.now - timedelta(days=21 + order_id % 345, minutes=order_id % 1440)

    def lines_of(self, order_id: int) -> list[tuple[int, int, bool]]:
        """(product, quantity, backordered) per line."""
        p = self.plan
        others = p.products - p.short_products
        if p.is_open(order_id):
            lines = []
            for k in range(4):
                if k == 0 and p.waits(order_id):
                    lines.append((1 + order_id % p.short_products, 1, True))
                else:
                    lines.append((p.short_products + 1 + (order_id * 7 + k * 13) % others, 1, False))
            return lines
        return [(1 + (order_id * 11 + k * 17) % p.products, 1 + (order_id + k) % 3, False) for k in range(2)]

    def write_orders(self) -> None:
        p = self.plan

        def rows():
            for n in range(1, p.orders + 1):
                placed = self.placed_at(n)
                city, region, postal = CITIES[n % len(CITIES)]
                open_ = p.is_open(n)
                total = Decimal(sum(40 * q for _, q, _ in self.lines_of(n)))
                yield (
                    n,
                    "shopify",
                    str(6_000_000_000_000 + n),
                    f"#S{n}",
                    1 + n % p.customers,
                    placed,
                    total,
                    total + Decimal("6.95"),
                    "open" if open_ else "fulfilled",
                    "Standard",
                    (placed + timedelta(days=3)).date(),
                    "Ships in 1–3 business days",
                    self.customer_name(1 + n % p.customers),
                    city,
                    region,
                    postal,
                    "US",
                    placed,
                    placed,
                )

        copy_rows(
            Order,
            [
                "id",
                "channel",
                "external_id",
                "number",
                "customer_id",
                "placed_at",
                "subtotal",
                "total",
                "status",
                "shipping_method",
                "promised_ship_by",
                "promise_text",
                "shipping_name",
                "shipping_city",
                "shipping_region",
                "shipping_postal_code",
                "shipping_country",
                "channel_updated_at",
                "created_at",
            ],
            rows(),
        )

    def write_lines(self) -> None:
        p = self.plan
        allocated = self.allocated

        def rows():
            line_id = 0
            for n in range(1, p.orders + 1):
                placed = self.placed_at(n)
                open_ = p.is_open(n)
                for k, (product, quantity, waiting) in enumerate(self.lines_of(n)):
                    line_id += 1
                    if waiting:
                        state, got, shipped = "backordered", 0, 0
                    elif open_:
                        state, got, shipped = "allocated", quantity, 0
                        allocated[product] = allocated.get(product, 0) + quantity
                    else:
                        state, got, shipped = "shipped", quantity, quantity
                    yield (
                        line_id,
                        n,
                        product,
                        str(k + 1),
                        product_sku(product),
                        f"Scale item {product // 3}",
                        quantity,
                        got,
                        shipped,
                        Decimal("40.00"),
                        state,
                        placed if waiting else None,
                        placed + timedelta(days=2) if shipped else None,
                    )

        copy_rows(
            OrderLine,
            [
                "id",
                "order_id",
                "product_id",
                "external_id",
                "sku",
                "title",
                "quantity",
                "allocated",
                "shipped",
                "unit_price",
                "state",
                "backordered_at",
                "shipped_at",
            ],
            rows(),
        )

    def write_stock(self) -> None:
        """Allocated units are on hand; short products have nothing free, the others plenty."""
        rows = [
            (pid, allocated + (0 if self.is_short(pid) else 50 + pid % 400), allocated)
            for pid, allocated in self.allocated.items()
        ]
        rows += [(pid, 50 + pid % 400, 0) for pid in range(1, self.plan.products + 1) if pid not in self.allocated]
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE scale_stock (id bigint, on_hand int, allocated int) ON COMMIT DROP")
            with cursor.cursor.copy("COPY scale_stock FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                "UPDATE backorders_product p SET on_hand = s.on_hand, allocated = s.allocated"
                " FROM scale_stock s WHERE s.id = p.id"
            )
            cursor.execute(
                "UPDATE backorders_product SET on_hand = allocated WHERE id <= %s", [self.plan.short_products]
            )

    def write_shipments(self) -> None:
        p = self.plan

        def rows():
            for n in range(p.open_orders + 1, p.orders + 1):
                shipped = self.placed_at(n) + timedelta(days=2)
                yield (
                    n - p.open_orders,
                    n,
                    "UPS",
                    f"1ZSCALE{n:012d}",
                    "delivered",
                    "Delivered",
                    shipped,
                    shipped + timedelta(hours=6),
                    shipped + timedelta(days=3),
                    shipped + timedelta(days=3),
                    "US",
                    shipped,
                )

        copy_rows(
            Shipment,
            [
                "id",
                "order_id",
                "carrier",
                "tracking_number",
                "status",
                "raw_status",
                "label_created_at",
                "first_scan_at",
                "last_scan_at",
                "delivered_at",
                "destination_country",
                "created_at",
            ],
            rows(),
        )
