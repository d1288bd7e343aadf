#!/usr/bin/env python
"""Backorder Desk benchmarks, each measured beside a baseline in the same process on the same data.

    python bench/run.py [--orders 200000] [--quick] [--only webhook,pages] [--profile sweep]

It uses the PostgreSQL database named by DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/backorder_desk_bench), creating it when missing, migrates it,
replaces its store with ``manage.py seed_scale --orders N``, runs every measurement, prints a
table and writes bench/results.json. seed_scale refuses a database holding a store it did not
make, so a development database is never wiped.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/backorder_desk_bench"
DEFAULT_QUEUE_QUERY = "kind=backorder&risk=customer_update"

# phase, "module:function", the results it yields (name, unit, target) should it be unable to run
PHASES = [
    (
        "webhook",
        "bench.intake:webhook_ack",
        [("webhook_ack_p50_ms", "ms", None), ("webhook_ack_p99_ms", "ms", "<= 50")],
    ),
    ("intake", "bench.intake:intake_rate", [("intake_per_s", "/s", ">= 150")]),
    ("edits", "bench.intake:intake_edits", [("intake_edits_per_s", "/s", ">= 150")]),
    ("csv", "bench.intake:csv_import", [("csv_import_100k_s", "s", "<= 10")]),
    (
        "allocation",
        "bench.allocation:allocation",
        [("allocation_1k_over_5k_s", "s", "< 1"), ("allocation_10k_over_100k_s", "s", None)],
    ),
    (
        "sweep",
        "bench.sweep:sweep",
        [
            ("sweep_100k_s", "s", "<= 10"),
            ("sweep_100k_unchanged_s", "s", None),
            ("sweep_first_s", "s", "<= 10"),
            ("sweep_changed_1pct_s", "s", "<= 2"),
            ("sweep_unchanged_s", "s", "<= 1"),
        ],
    ),
    (
        "pages",
        "bench.pages:queue_page",
        [
            ("queue_page_p50_ms", "ms", "< baseline"),
            ("queue_page_p99_ms", "ms", "< baseline"),
            ("queue_page_queries", "queries", None),
        ],
    ),
    (
        "packet_page",
        "bench.pages:packet_page",
        [("packet_page_p50_ms", "ms", None), ("packet_page_queries", "queries", None)],
    ),
    ("pdf", "bench.pdf:packet_pdf", [("packet_pdf_s", "s", "<= 0.5"), ("packet_pdf_cached_s", "s", "<= 0.5")]),
    ("notify", "bench.notify:notify", [("notify_per_s", "/s", None), ("approve_to_send_p95_s", "s", "< 5")]),
]


# Phases measured again on the big store (--big, BENCH_1M=1), their results named with a _1m suffix.
BIG_PHASES = {"webhook", "intake", "edits", "allocation", "sweep", "pages"}

# Targets the issue sets apart for the big store (the others are the same at both sizes).
BIG_TARGETS = {"sweep_changed_1pct_s": "<= 5"}


def big_target(result):
    """The result measured on the big store, held to the big store's own target where one is set."""
    goal = BIG_TARGETS.get(result.name.removesuffix("_1m"))
    if goal is None:
        return result
    from bench.core import Result

    return Result(result.name, result.value, result.unit, result.baseline, goal, result.note, result.baseline_label)


# Phases measured in a forked process of their own (bounded); --profile profiles inside it.
CHILD_PHASES = {"allocation", "sweep"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000, help="orders in the seeded store (default 200,000)")
    parser.add_argument("--quick", action="store_true", help="small samples: proves every measurement runs")
    parser.add_argument("--skip-seed", action="store_true", help="measure the store as it is (seeded earlier)")
    parser.add_argument("--only", default="", help="comma-separated phases: " + ", ".join(p[0] for p in PHASES))
    parser.add_argument("--profile", default="", help="run this phase under cProfile and print its top functions")
    parser.add_argument(
        "--queue-query", default=DEFAULT_QUEUE_QUERY, help=f"filters for /cases/ (default {DEFAULT_QUEUE_QUERY})"
    )
    parser.add_argument(
        "--csv-budget",
        type=float,
        default=60.0,
        help="seconds the CSV import may run before the rest is extrapolated (0: no limit; default 60)",
    )
    parser.add_argument(
        "--intake-budget",
        type=float,
        default=45.0,
        help="seconds the worker may process stored deliveries; the rate is of those done (0: no limit; default 45)",
    )
    parser.add_argument(
        "--allocation-limit",
        type=float,
        default=45.0,
        help="seconds receive_stock may run per scenario; a stopped run reports a lower bound (default 45)",
    )
    parser.add_argument(
        "--sweep-limit",
        type=float,
        default=120.0,
        help="seconds each sweep run may take; a stopped run rolls back and reports a lower bound (default 120; "
        "on the big store, that many per store of --orders orders)",
    )
    parser.add_argument(
        "--big",
        type=int,
        default=int(os.environ.get("BENCH_BIG_ORDERS") or 0) or (1_000_000 if os.environ.get("BENCH_1M") else 0),
        help="then reseed with this many orders and measure BIG_PHASES again, names suffixed _1m "
        "(default: 1,000,000 when BENCH_1M=1, else off)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    return parser.parse_args(argv)


def configure_environment() -> dict[str, str]:
    """Production settings on loopback; the same environment for the children (web server, worker)."""
    from bench import SHOPIFY_SECRET
    from bench.server import free_port

    env = os.environ
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789")
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "STATIC_MANIFEST": "false",
            "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(free_port()),
            "EMAIL_USE_TLS": "false",
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "LOG_LEVEL": env.get("BENCH_LOG_LEVEL", "WARNING"),
        }
    )
    return dict(env)


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"DATABASE_URL must name a PostgreSQL database, got {parts.scheme}://")
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}")


def load(target: str):
    from importlib import import_module

    module, _, name = target.partition(":")
    return getattr(import_module(module), name)


def run_phase(phase: str, target: str, ctx, memory: list, profile: bool):
    from bench.core import phase_memory

    fn = load(target)
    with phase_memory(phase, memory):
        if not profile:
            return fn(ctx)
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(fn, ctx)
        finally:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
            stats.print_stats(35)
            stats.dump_stats(ctx.log_dir / f"{phase}.prof")
            print(f"\n--- cProfile of {phase}, top functions by cumulative time ---\n{out.getvalue()}")


def run_phases(ctx, args, wanted: set[str], memory: list, phases: dict, failed: list, suffix: str = "") -> list:
    """Run the wanted phases in order; a phase that fails yields its results without values."""
    from bench.core import Result

    results = []
    for phase, target, expected in PHASES:
        if wanted and phase not in wanted:
            continue
        print(f"- {phase}{suffix} ...", flush=True)
        t0 = time.perf_counter()
        try:
            in_child = phase in CHILD_PHASES  # they profile themselves, in their own process
            results.extend(run_phase(phase + suffix, target, ctx, memory, args.profile == phase and not in_child))
        except Exception as exc:
            traceback.print_exc()
            failed.append(phase + suffix)
            results.extend(
                Result(name, None, unit, target=goal, note=f"failed: {type(exc).__name__}: {exc}"[:300])
                for name, unit, goal in expected
            )
        took, load = time.perf_counter() - t0, round(os.getloadavg()[0], 2)
        phases[phase + suffix] = {"seconds": round(took, 1), "load_average_at_end": load}
        print(f"  {phase}{suffix} took {took:.1f}s (load average {load})", flush=True)
    return results


def settle_store() -> None:
    """After a seed, what a running store's database has done long before: ``VACUUM (ANALYZE)``
    over the freshly copied tables and a ``CHECKPOINT`` of their pages, as pgbench vacuums before
    it measures. Otherwise autovacuum and the checkpointer work through hundreds of megabytes
    during the first phases, on the same cores, and the first sweep's time says more about them."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    print(f"  vacuum and checkpoint after the seed: {time.perf_counter() - started:.1f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    child_env = configure_environment()
    ensure_database(os.environ["DATABASE_URL"])

    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic for benchmarks

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.core import Context, Result, machine, memory_results, phase_memory, table, write_results
    from packets.seeding.scale import Plan

    wanted = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = wanted - {p[0] for p in PHASES} - {"seed"}
    if unknown:
        raise SystemExit(f"Unknown phases: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="backorder-bench-"))
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    machine_info = machine(postgres)
    print(f"Backorder Desk benchmarks on {connection.settings_dict['NAME']} ({postgres}); logs in {log_dir}")
    print(
        f"Machine: {machine_info['cpu']}, {machine_info['cores']} cores, {machine_info['memory_gb']} GB; "
        f"load average {machine_info['load_average_at_start']} (a shared machine: timings are noisy)"
    )

    call_command("migrate", verbosity=0)
    memory: list = []
    seed_seconds = None
    if not args.skip_seed:
        with phase_memory("seed", memory):
            t0 = time.perf_counter()
            call_command("seed_scale", orders=args.orders, verbosity=2)
            seed_seconds = time.perf_counter() - t0
        settle_store()

    ctx = Context(
        orders=args.orders,
        quick=args.quick,
        child_env=child_env,
        log_dir=log_dir,
        queue_query=args.queue_query,
        products=Plan(args.orders).products,
        csv_budget=args.csv_budget,
        intake_budget=args.intake_budget,
        allocation_limit=args.allocation_limit,
        sweep_limit=args.sweep_limit,
        profile=args.profile,
    )
    results: list[Result] = []
    if seed_seconds is not None:
        results.append(Result("seed_scale_s", seed_seconds, "s", note=f"{args.orders:,} orders with COPY"))
    failed: list[str] = []
    phases: dict[str, dict] = {}  # how long each phase took, and how busy the machine was at its end
    results.extend(run_phases(ctx, args, wanted, memory, phases, failed))
    if args.big:
        from dataclasses import replace

        print(f"\nThe big store: {args.big:,} orders", flush=True)
        with phase_memory("seed_1m", memory):
            t0 = time.perf_counter()
            call_command("seed_scale", orders=args.big, verbosity=2)
            seconds = time.perf_counter() - t0
        settle_store()
        results.append(Result("seed_scale_s_1m", seconds, "s", note=f"{args.big:,} orders with COPY"))
        # each sweep run's limit grows with the store (its first run at 1M takes most of 120 s)
        limit = ctx.sweep_limit * max(1, args.big // args.orders) if ctx.sweep_limit else ctx.sweep_limit
        big = replace(ctx, orders=args.big, products=Plan(args.big).products, sweep_limit=limit)
        big_wanted = (wanted or {p[0] for p in PHASES}) & BIG_PHASES
        for result in run_phases(big, args, big_wanted, memory, phases, failed, suffix="_1m"):
            result.name += "_1m"
            results.append(big_target(result))
    results.extend(memory_results(memory))

    print()
    print(table(results))
    meta = {
        "orders": args.orders,
        "big_orders": args.big or None,
        "quick": args.quick,
        "phases": phases,
        "queue_query": args.queue_query,
        "seconds": round(time.monotonic() - started, 1),
        "ratio": "times the baseline's cost: value/baseline, or baseline/value for rates (/s); above 1 costs more",
    }
    write_results(args.output, machine_info, results, meta)
    misses = [r.name for r in results if r.met is False]
    print(f"\nWrote {args.output} in {meta['seconds']:.0f}s. Targets missed: {', '.join(misses) or 'none'}.")
    if failed:
        print(f"Phases that failed: {', '.join(failed)} (tracebacks above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
