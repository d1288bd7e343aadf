"""The sweep is set-based: its query count does not grow with the number of open order lines.

The store is built with ``generate_series`` so 100,000 lines take seconds to set up. Every
order has four open lines; one order in ten waits on stock (a backordered line), the others
are fully allocated and waiting to ship, as in a busy store.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from backorders.models import Product
from packets.models import Case, Packet
from packets.sweep import run_sweep
from suppliers.models import SupplierSource, SupplierUpdate
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
PRODUCTS = 40
LINES_PER_ORDER = 4


def build_store(lines: int) -> None:
    """A fixed catalog and supply side, plus ``lines`` open order lines."""
    suppliers = [factories.SupplierFactory() for _ in range(4)]
    products = Product.objects.bulk_create(
        Product(
            sku=f"SCALE-{n:03d}",
            title=f"Scale item {n // 2}",
            variant_title=f"V{n % 2}",
            price=Decimal("40.00"),
            cost=Decimal("18.00"),
            on_hand=1000,
            allocated=0,
        )
        for n in range(PRODUCTS)
    )
    SupplierSource.objects.bulk_create(
        SupplierSource(supplier=suppliers[n % 4], product=p, unit_cost=Decimal("18.00")) for n, p in enumerate(products)
    )
    SupplierSource.objects.create(supplier=suppliers[1], product=products[0], role="backup", unit_cost=Decimal("21.00"))
    for n, product in enumerate(products[:6]):
        SupplierUpdate.objects.create(
            supplier=suppliers[n % 4],
            product=product,
            kind="stock_status",
            stock_status="out_of_stock",
            strength="weak",
            received_at=NOW - timedelta(days=1),
            source_text="Out for now.",
        )
    factories.CustomerFactory.create_batch(5)
    orders = lines // LINES_PER_ORDER
    first_product = products[0].pk
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO backorders_order (channel, external_id, number, placed_at, currency, subtotal, total, status,
                payment_state, shipping_method, express, priority_class, partial_shipment, promised_ship_by,
                promise_text, shipping_name, shipping_city, shipping_region, shipping_postal_code, shipping_country,
                created_at, updated_at, customer_id)
            SELECT 'shopify', 'scale-' || g, '#S' || g, %(now)s - (g %% 20) * interval '1 day', 'USD', 160, 166.95,
                'open', 'paid', 'Standard', false, '', '', (%(now)s - (g %% 20) * interval '1 day')::date + 3,
                'Ships in 1–3 business days', 'Scale', 'Portland', 'OR', '97205', 'US', %(now)s, %(now)s,
                (SELECT min(id) FROM backorders_customer) + g %% 5
            FROM generate_series(1, %(orders)s) AS g
            """,
            {"now": NOW, "orders": orders},
        )
        cursor.execute(
            """
            INSERT INTO backorders_orderline (external_id, sku, title, quantity, allocated, shipped, unit_price, state,
                backordered_at, order_id, product_id)
            SELECT o.id || '-' || k, 'SCALE', 'Scale item', 1,
                CASE WHEN k = 0 AND o.id %% 10 = 0 THEN 0 ELSE 1 END, 0, 40,
                CASE WHEN k = 0 AND o.id %% 10 = 0 THEN 'backordered' ELSE 'allocated' END,
                CASE WHEN k = 0 AND o.id %% 10 = 0 THEN o.placed_at END,
                o.id, %(first)s + (o.id + k * 7) %% %(products)s
            FROM backorders_order o CROSS JOIN generate_series(0, %(per)s - 1) AS k
            WHERE o.external_id LIKE 'scale-%%'
            """,
            {"first": first_product, "products": PRODUCTS, "per": LINES_PER_ORDER},
        )
        # allocated units are held on hand, as allocation would have left them
        cursor.execute(
            """
            UPDATE backorders_product p SET on_hand = p.on_hand + s.n, allocated = s.n
            FROM (SELECT product_id, sum(allocated) AS n FROM backorders_orderline GROUP BY product_id) s
            WHERE s.product_id = p.id
            """
        )
    # a few products with no free units left and the backordered lines waiting on them
    Product.objects.filter(pk__in=[p.pk for p in products[:6]]).update(on_hand=F("allocated"))
    with connection.cursor() as cursor:
        # A live store's tables carry planner statistics; rows written inside this one transaction
        # have none until analysed.
        cursor.execute("ANALYZE backorders_order, backorders_orderline, backorders_product")


def measure(lines: int) -> dict:
    with transaction.atomic(), time_machine.travel(NOW, tick=False):
        started = time.monotonic()
        build_store(lines)
        built = time.monotonic() - started
        with CaptureQueriesContext(connection) as first:
            result = run_sweep()
        with CaptureQueriesContext(connection) as second:
            again = run_sweep()
        outcome = {
            "built": built,
            "first_queries": len(first.captured_queries),
            "second_queries": len(second.captured_queries),
            "first": result,
            "second": again,
            "cases": Case.objects.open().count(),
            "packets": Packet.objects.count(),
        }
        transaction.set_rollback(True)
    return outcome


def test_it_sweeps_100k_open_lines_in_seconds_with_a_fixed_number_of_queries(capsys):
    small = measure(1_000)
    large = measure(100_000)
    with capsys.disabled():
        print(
            f"\nsweep of 100,000 open lines: first run {large['first'].seconds:.2f}s "
            f"({large['first_queries']} queries, {large['cases']} cases), second run {large['second'].seconds:.2f}s "
            f"({large['second_queries']} queries); 1,000 lines: {small['first_queries']} / {small['second_queries']} "
            f"queries; setup {large['built']:.1f}s"
        )
    assert small["first"].opened < 100 and large["first"].opened > 2_000
    assert large["packets"] == large["cases"], "one packet per case"
    # The same statements whatever the size: 1,000 lines or 100,000.
    assert small["first_queries"] == large["first_queries"]
    assert small["second_queries"] == large["second_queries"]
    assert not large["second"].changed
    # Generous bounds: this machine is shared; the report quotes measured times.
    assert large["second"].seconds < 30 and large["first"].seconds < 90
