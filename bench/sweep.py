"""The sweep over the store's open order lines.

Baseline: one query reading the same open lines with their orders and products into Python,
the read no reconcile can avoid.
"""

from __future__ import annotations

import time

from django.db import connection

from .core import Context, Result, missing

OPEN_LINES = """
SELECT l.id, l.quantity, l.allocated, l.state, l.backordered_at, o.id, o.placed_at, o.status, o.promised_ship_by,
       o.customer_id, p.id, p.on_hand, p.allocated, p.status
FROM backorders_orderline l
JOIN backorders_order o ON o.id = l.order_id
JOIN backorders_product p ON p.id = l.product_id
WHERE o.status = 'open' AND l.state NOT IN ('shipped', 'cancelled')
"""


def sweep(ctx: Context) -> list[Result]:
    try:
        from packets.sweep import run_sweep
    except ImportError:
        return [
            missing("sweep_100k_s", "s", "sweep", target="<= 10"),
            missing("sweep_100k_unchanged_s", "s", "sweep"),
        ]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(OPEN_LINES)
        open_lines = len(cursor.fetchall())
    read = time.perf_counter() - started
    started = time.perf_counter()
    first = run_sweep()
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = run_sweep()
    second_s = time.perf_counter() - started
    label = "one query reading the open lines with their orders and products"
    return [
        Result(
            "sweep_100k_s",
            first_s,
            "s",
            read,
            target="<= 10",
            note=f"first run over {open_lines:,} open lines of the seeded store: {first}",
            baseline_label=label,
        ),
        Result(
            "sweep_100k_unchanged_s",
            second_s,
            "s",
            read,
            note=f"the next run, nothing changed: {second}",
            baseline_label=label,
        ),
    ]
