"""The sweep over the store's open order lines: a first run, then an unchanged repeat.

``packets.sweep.run_sweep`` is what ``python manage.py sweep`` runs: the reconcile of cases and
packets, then the customer-message cadence it triggers (``AFTER_SWEEP``). On the seeded store
the first run writes a new packet version for every seeded case (the seed writes packets of the
contract's shape, not the sweep's) and drafts the due customer messages of every waiting line;
the repeat finds nothing to change. Both commit, as a scheduled sweep does, so the pages that
follow are measured on the swept store.

It runs in a forked process, each run stopped at ``--sweep-limit`` seconds (a stopped run rolls
back and is reported as a lower bound); that process's own peak memory is reported.

Baseline: one query reading the same open lines with their orders and products into Python,
the read no reconcile can avoid.
"""

from __future__ import annotations

import time

from django.db import connection

from packets.models import Message

from .core import Context, Result, child_reports, peak_rss_mb, profiled, run_bounded

OPEN_LINES = """
SELECT l.id, l.quantity, l.allocated, l.state, l.backordered_at, o.id, o.placed_at, o.status, o.promised_ship_by,
       o.customer_id, p.id, p.on_hand, p.allocated, p.status
FROM backorders_orderline l
JOIN backorders_order o ON o.id = l.order_id
JOIN backorders_product p ON p.id = l.product_id
WHERE o.status = 'open' AND l.state NOT IN ('shipped', 'cancelled')
"""


def _sweeps(pipe, profile: bool, log_dir) -> None:
    from packets.sweep import run_sweep

    def body(send) -> None:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(OPEN_LINES)
            send(("lines", len(cursor.fetchall())))
        send(("baseline", time.perf_counter() - started))
        for run in ("first", "second"):
            drafts = Message.objects.count()
            send(("start", None))
            started = time.perf_counter()
            with profiled(profile, f"sweep-{run}", log_dir):
                result = run_sweep()
            seconds = time.perf_counter() - started
            drafted = Message.objects.count() - drafts
            send((run, (seconds, f"{result}; then the cadence drafted {drafted:,} customer messages")))
        send(("memory", peak_rss_mb()))

    child_reports(pipe, body)


def sweep(ctx: Context) -> list[Result]:
    run = run_bounded(_sweeps, (ctx.profile == "sweep", ctx.log_dir), limit=ctx.sweep_limit)
    lines, read = run.values["lines"], run.values["baseline"]
    label = "one query reading the open lines with their orders and products"
    stopped = f"; stopped at the {ctx.sweep_limit:.0f}s limit and rolled back: at least this long"
    results = []
    for name, run_name, target, what in (
        ("sweep_100k_s", "first", "<= 10", f"first run over {lines:,} open lines of the seeded store"),
        ("sweep_100k_unchanged_s", "second", None, "the next run, nothing changed"),
    ):
        if run_name in run.values:
            seconds, summary = run.values[run_name]
            note = f"{what}: {summary}"
        elif run.stopped and (run_name == "first" or "first" in run.values):
            seconds, note = run.stopped_after, what + stopped
        else:
            seconds, note = None, f"{what}: not run (the first run was stopped)"
        results.append(Result(name, seconds, "s", read, target=target, note=note, baseline_label=label))
    memory = run.values.get("memory")
    results.append(
        Result(
            "memory_sweep_process_peak_mb",
            memory,
            "MB",
            note="peak RSS of the process that ran both sweeps (VmHWM)"
            if memory
            else "the sweep's process was stopped before it reported its memory",
        )
    )
    return results
