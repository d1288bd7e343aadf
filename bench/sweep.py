"""The sweep over the store's open order lines: the full reconcile, then the incremental runs.

``packets.sweep.run_sweep`` is the full reconcile (``python manage.py sweep``, nightly): on the
seeded store its first run writes a new packet version for every seeded case (the seed writes
packets of the contract's shape, not the sweep's), settles the dirty keys the seed's writes
marked and sets every case's clock; the message drafting after it (``AFTER_SWEEP``, a task of its
own in production) is timed apart. The repeat finds nothing to change.

``packets.sweep.changed.sweep_changed`` is the scheduled run: it rebuilds the cases the dirty keys
reach. Timed twice: after 1% of the open backorder cases' orders had their promised ship-by date
moved (one statement; the triggers mark each order), and with nothing due. Every run commits, as
a scheduled one does, so the pages that follow are measured on the swept store.

A full run over the seeded store goes to ``SWEEP_PROCESSES`` forked processes (the machine's
cores, at most four), each building and writing its share of the cases; the largest peak memory of
one of them is reported beside the sweep process's own.

It runs in a forked process, each run stopped at ``--sweep-limit`` seconds (a stopped run rolls
back and is reported as a lower bound); that process's own peak memory is reported.

Baseline: one query reading the same open lines with their orders and products into Python,
the read no reconcile can avoid.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import connection
from django.db.models import F

from backorders.models import Order
from packets.models import Case, Message

from .core import Context, Result, child_reports, peak_rss_mb, profiled, run_bounded

OPEN_LINES = """
SELECT l.id, l.quantity, l.allocated, l.state, l.backordered_at, o.id, o.placed_at, o.status, o.promised_ship_by,
       o.customer_id, p.id, p.on_hand, p.allocated, p.status
FROM backorders_orderline l
JOIN backorders_order o ON o.id = l.order_id
JOIN backorders_product p ON p.id = l.product_id
WHERE o.status = 'open' AND l.state NOT IN ('shipped', 'cancelled')
"""
CHANGED_SHARE = 100  # one case in a hundred


def _touch_one_percent() -> int:
    """Move the promised ship-by date of 1% of the open backorder cases' orders: one statement."""
    order_ids = list(
        Case.objects.open()
        .filter(dedupe_key__startswith="backorder:order:")
        .order_by("id")
        .values_list("order_id", flat=True)
    )[::CHANGED_SHARE]
    Order.objects.filter(pk__in=order_ids).update(promised_ship_by=F("promised_ship_by") + timedelta(days=1))
    return len(order_ids)


def _sweeps(pipe, profile: bool, log_dir) -> None:
    from packets.sweep import run_after_sweep, run_sweep
    from packets.sweep.changed import sweep_changed

    def body(send) -> None:
        def timed(name: str, run, label: str = "") -> None:
            send(("start", None))
            started = time.perf_counter()
            with profiled(profile, f"sweep-{name}", log_dir):
                result = run()
            send((name, (time.perf_counter() - started, f"{label}{result}")))
            if getattr(result, "processes", 1) > 1:
                send(("part_memory", (result.processes, result.part_peak_mb)))

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(OPEN_LINES)
            send(("lines", len(cursor.fetchall())))
        send(("baseline", time.perf_counter() - started))
        timed("first", lambda: run_sweep(hooks=False))
        drafts = Message.objects.count()
        send(("start", None))  # the drafting has a limit of its own, not what the first run left of its
        started = time.perf_counter()
        run_after_sweep()
        send(("drafting", (time.perf_counter() - started, Message.objects.count() - drafts)))
        timed("second", lambda: run_sweep(hooks=False))
        touched = _touch_one_percent()
        timed("changed", sweep_changed, f"{touched:,} orders' promised ship-by moved: ")
        timed("unchanged", sweep_changed)
        send(("memory", peak_rss_mb()))

    child_reports(pipe, body)


def sweep(ctx: Context) -> list[Result]:
    run = run_bounded(_sweeps, (ctx.profile == "sweep", ctx.log_dir), limit=ctx.sweep_limit)
    lines, read = run.values["lines"], run.values["baseline"]
    label = "one query reading the open lines with their orders and products"
    stopped = f"; stopped at the {ctx.sweep_limit:.0f}s limit and rolled back: at least this long"
    order = ["first", "drafting", "second", "changed", "unchanged"]
    stopped_run = next((name for name in order if name not in run.values), None) if run.stopped else None
    drafting = run.values.get("drafting")
    drafted = (
        f"; the message drafting after it (its own task) took {drafting[0]:.1f}s for {drafting[1]:,} drafts"
        if drafting
        else f"; the message drafting after it was stopped at the {ctx.sweep_limit:.0f}s limit"
        if stopped_run == "drafting"
        else ""
    )
    first = f"first full run over {lines:,} open lines of the seeded store"
    results = []
    for name, run_name, target, what in (
        ("sweep_100k_s", "first", "<= 10", first),
        ("sweep_100k_unchanged_s", "second", None, "the next full run, nothing changed"),
        ("sweep_first_s", "first", "<= 10", first),
        ("sweep_changed_1pct_s", "changed", "<= 2", "incremental run after 1% of the open cases' facts changed"),
        ("sweep_unchanged_s", "unchanged", "<= 1", "incremental run, nothing changed or due"),
    ):
        if run_name in run.values:
            seconds, summary = run.values[run_name]
            note = f"{what}: {summary}" + (drafted if run_name == "first" else "")
        elif run_name == stopped_run:
            seconds, note = run.stopped_after, what + stopped
        else:
            seconds, note = None, f"{what}: not run (an earlier run was stopped)"
        results.append(Result(name, seconds, "s", read, target=target, note=note, baseline_label=label))
    memory = run.values.get("memory")
    processes, part_peak = run.values.get("part_memory") or (1, None)
    results.append(
        Result(
            "memory_sweep_process_peak_mb",
            memory,
            "MB",
            note="peak RSS of the process that ran the sweeps (VmHWM)"
            if memory
            else "the sweep's process was stopped before it reported its memory",
        )
    )
    results.append(
        Result(
            "memory_sweep_part_peak_mb",
            part_peak,
            "MB",
            note=f"a full run in {processes} processes (SWEEP_PROCESSES): the largest peak RSS of one of them, "
            "its pages shared with the parent's snapshot counted in full"
            if part_peak
            else "no full run went to several processes",
        )
    )
    return results
