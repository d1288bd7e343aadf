"""Receiving stock: units given to waiting lines, oldest order first.

Each scenario builds two identical products with their waiting lines (one backordered line per
open order, written with COPY), gives one to ``backorders.allocation.receive_stock`` and the
other to one set-based SQL statement that makes the same allocation (a running sum over the
waiting lines in order), then checks both gave the same units. Everything happens in a
transaction rolled back afterwards, so the store is left as seeded; the commit is not timed.
Each scenario runs in a forked process, stopped at ``--allocation-limit`` seconds.
"""

from __future__ import annotations

import inspect
import time
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from backorders.models import Order, OrderLine, Product

from .core import Context, Result, child_reports, profiled, run_bounded

SET_BASED = """
WITH product AS (
    SELECT id, on_hand + %(units)s - allocated AS free FROM backorders_product WHERE id = %(pid)s FOR UPDATE
), waiting AS (
    SELECT l.id, l.quantity - l.allocated AS need,
           sum(l.quantity - l.allocated) OVER (ORDER BY o.placed_at, l.id) AS upto
    FROM backorders_orderline l JOIN backorders_order o ON o.id = l.order_id
    WHERE l.product_id = %(pid)s AND o.status = 'open' AND l.state IN ('backordered', 'pending', 'partial')
      AND l.allocated < l.quantity
), given AS (
    UPDATE backorders_orderline l
    SET allocated = l.allocated + LEAST(w.need, p.free - (w.upto - w.need)),
        state = CASE WHEN w.upto <= p.free THEN 'allocated' ELSE 'partial' END
    FROM waiting w, product p
    WHERE l.id = w.id AND w.upto - w.need < p.free
    RETURNING LEAST(w.need, p.free - (w.upto - w.need)) AS took
)
UPDATE backorders_product
SET on_hand = on_hand + %(units)s, updated_at = now(),
    allocated = allocated + (SELECT COALESCE(sum(took), 0) FROM given)
WHERE id = %(pid)s
"""

SCENARIOS = [
    # name, units received, waiting lines, target
    ("allocation_1k_over_5k_s", 1_000, 5_000, "< 1"),
    ("allocation_10k_over_100k_s", 10_000, 100_000, None),
]


def waiting_product(tag: str, lines: int) -> int:
    """A product with no stock and ``lines`` open orders waiting on one unit each."""
    from packets.seeding.scale import copy_rows

    now = timezone.now()
    product = Product.objects.create(sku=f"BENCH-ALLOC-{tag}-{now:%H%M%S%f}", title="Allocation bench item")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM backorders_order")
        first = cursor.fetchone()[0] + 1
    copy_rows(
        Order,
        ["id", "channel", "external_id", "number", "placed_at", "status"],
        (
            (
                first + i,
                "manual",
                f"alloc-{product.pk}-{i}",
                f"#A{product.pk}-{i}",
                now - timedelta(minutes=lines - i),
                "open",
            )
            for i in range(lines)
        ),
    )
    copy_rows(
        OrderLine,
        ["order_id", "product_id", "sku", "quantity", "state", "backordered_at"],
        ((first + i, product.pk, product.sku, 1, "backordered", now) for i in range(lines)),
    )
    return product.pk


def _given(product_id: int) -> tuple[int, int]:
    product = Product.objects.get(pk=product_id)
    lines = OrderLine.objects.filter(product_id=product_id, allocated__gt=0).count()
    return product.allocated, lines


def _scenario(pipe, units: int, lines: int, kwargs: dict, profile: bool, log_dir) -> None:
    """In a forked child: build both products, time the baseline then ``receive_stock``, roll back."""
    from backorders.allocation import receive_stock

    def body(send) -> None:
        with transaction.atomic():
            ours_id, base_id = waiting_product("A", lines), waiting_product("B", lines)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE backorders_orderline, backorders_order")
                started = time.perf_counter()
                cursor.execute(SET_BASED, {"units": units, "pid": base_id})
                send(("baseline", time.perf_counter() - started))
            send(("start", None))
            started = time.perf_counter()
            with profiled(profile, f"allocation-{units}-over-{lines}", log_dir):
                receive_stock(ours_id, units, **kwargs)
            ours = time.perf_counter() - started
            if _given(ours_id) != _given(base_id) or _given(ours_id)[0] != units:
                raise RuntimeError(f"receive_stock gave {_given(ours_id)}, the SQL statement {_given(base_id)}")
            send(("ours", ours))
            transaction.set_rollback(True)

    child_reports(pipe, body)


def _run_bounded(units: int, lines: int, kwargs: dict, ctx: Context) -> tuple[float, float, str]:
    """(ours, baseline, note) with ``receive_stock`` stopped after ``ctx.allocation_limit`` seconds."""
    limit = ctx.allocation_limit
    run = run_bounded(_scenario, (units, lines, kwargs, ctx.profile == "allocation", ctx.log_dir), limit=limit)
    if run.stopped:
        return run.stopped_after, run.values["baseline"], f"; stopped at the {limit:.0f}s limit: at least this long"
    return run.values["ours"], run.values["baseline"], ""


def allocation(ctx: Context) -> list[Result]:
    from backorders.allocation import receive_stock

    kwargs = {"reference": "bench"}
    path = "receive_stock"
    if "approve" in inspect.signature(receive_stock).parameters:
        kwargs["approve"] = True  # apply the plan at once, as the owner does from the review page
        path = "receive_stock(approve=True)"
    results = []
    for name, units, lines, target in SCENARIOS:
        if ctx.quick:
            units, lines = units // 50, lines // 50
        ours, base, stopped = _run_bounded(units, lines, kwargs, ctx)
        results.append(
            Result(
                name,
                ours,
                "s",
                base,
                target=target,
                note=f"{path}: {units:,} units over {lines:,} waiting lines; rolled back after{stopped}",
                baseline_label="one set-based SQL statement (running sum over the waiting lines)",
            )
        )
    return results
