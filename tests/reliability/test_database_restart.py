"""A PostgreSQL restart in the middle of intake and allocation leaves a consistent state.

The test runs its own PostgreSQL cluster (``private_postgres``: initdb in a temporary directory, a
free port), never the shared server. Into it: ``manage.py migrate``, the catalogue's products, then
the production shape on top of it: gunicorn (2 workers) taking signed webhooks, and one
``manage.py qcluster`` (ORM broker in the same database) applying them. The load, sent over HTTP
from four threads in a seeded shuffled order, every delivery retried until answered 200 as the
platforms do (and a tenth of them sent twice):

* ``DBRESTART_ORDERS`` (default 240) Shopify ``orders/create``, one or two lines each over 8 SKUs;
* rising stock counts for each SKU (generic ``stock_level``): supply short for some SKUs, ample
  for others, each rise allocated by the worker or proposed for the owner.

Twice, when a third and two thirds of the deliveries have been answered, the cluster is restarted
with ``pg_ctl restart -m immediate`` (every server process killed at once; crash recovery on start)
while the web and worker processes are in the middle of their work. Once work has resumed and the
queue is empty, what was left *received* (a task that ran while the server was away, an enqueue
lost in the crash) is applied by ``backorders.tasks.process_received``, the task the
``intake.process_received`` schedule runs every two minutes (run at once here rather than waited
for), and anything failed is replayed with ``replay_webhooks --failed``, the documented way; the
owner applies the open allocation proposals. Then, checked with SQL straight from the database:

* no delivery lost: every order sent is kept once, with all of its lines; every accepted delivery is
  processed, ignored (a stale stock count) or a duplicate, none left failed or waiting;
* per SKU: on hand equals the last count, allocated equals min(demand, supply), and the product's
  ``allocated`` equals what its lines hold; no order without lines; the queue is empty.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.processes import BASE_DIR, PYTHON, Processes, production_env
from tests.reliability import traffic
from tests.reliability.private_postgres import PrivatePostgres, private_postgres  # noqa: F401

pytestmark = [pytest.mark.postgres]

ORDERS = int(os.environ.get("DBRESTART_ORDERS", "240"))
SKUS = [f"DB-{n:02d}" for n in range(8)]
SUPPLY = {sku: 12 * (n + 1) for n, sku in enumerate(SKUS)}  # 12 .. 96; demand is about 0.38 x ORDERS per SKU
COUNTS_PER_SKU = 4
DATABASE = "backorder_desk_restart"
SEED = 23


def manage(env: dict, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stderr or result.stdout}"
    return result.stdout


def order_lines(n: int) -> list[tuple[str, int]]:
    return [(SKUS[(n + 3 * k) % len(SKUS)], 1 + (n + k) % 3) for k in range(1 + n % 2)]


def load() -> tuple[list[traffic.Delivery], dict[int, list[tuple[str, int]]]]:
    orders = {7_300_000_000 + n: order_lines(n) for n in range(ORDERS)}
    deliveries = []
    for order_id, lines in orders.items():
        email = f"buyer{order_id % 97}@example.com"
        payload = traffic.shopify_order(order_id, f"#DB{order_id % 10**5}", lines, email=email)
        deliveries.append(traffic.shopify("orders/create", payload, f"db-order-{order_id}"))
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    for sku, supply in SUPPLY.items():
        for j in range(1, COUNTS_PER_SKU + 1):
            data = {"sku": sku, "on_hand": supply * j // COUNTS_PER_SKU, "updated_at": (start + timedelta(hours=j))}
            data["updated_at"] = data["updated_at"].isoformat()
            deliveries.append(traffic.generic("stock_level", data, f"db-count-{sku}-{j}"))
    rng = random.Random(SEED)
    deliveries += rng.sample(deliveries, len(deliveries) // 10)  # sent twice, as an at-least-once sender does
    rng.shuffle(deliveries)
    return deliveries, orders


SEED_PRODUCTS = (
    "from backorders.models import Product\n"
    "for sku in {skus!r}:\n"
    "    Product.objects.create(sku=sku, title='Restart proof ' + sku, on_hand=0)\n"
)
PICK_UP = "from backorders.tasks import process_received\nprint(process_received(older_than_seconds=0))\n"
APPLY_PROPOSALS = (
    "from backorders.allocation import approve_allocation\n"
    "from backorders.models import StockAllocation\n"
    "applied = 0\n"
    "for _ in range(20):\n"
    "    ids = list(StockAllocation.objects.filter(status='proposed').values_list('pk', flat=True))\n"
    "    if not ids:\n"
    "        break\n"
    "    for pk in ids:\n"
    "        approve_allocation(pk)\n"
    "        applied += 1\n"
    "print(applied)\n"
)


def applied(pg: PrivatePostgres) -> int:
    """Deliveries the worker has applied so far (0 while the server is coming back)."""
    try:
        [(count,)] = pg.query(
            DATABASE,
            "SELECT count(*) FROM backorders_webhookdelivery WHERE status IN ('processed', 'ignored', 'failed')",
        )
    except psycopg.OperationalError:
        return 0
    return count


def wait_for_log(path, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{path.name} never said {text!r}")


def wait_until_settled(pg: PrivatePostgres, seconds: float) -> int:
    """Wait until the queue is empty and nothing is left received, or nothing moved for 15 s."""
    deadline, last, still_since = time.monotonic() + seconds, None, time.monotonic()
    while time.monotonic() < deadline:
        [(waiting, queued)] = pg.query(
            DATABASE,
            "SELECT (SELECT count(*) FROM backorders_webhookdelivery WHERE status IN ('received', 'processing')),"
            " (SELECT count(*) FROM django_q_ormq)",
        )
        if waiting == 0 and queued == 0:
            return 0
        if (waiting, queued) != last:
            last, still_since = (waiting, queued), time.monotonic()
        elif queued == 0 and time.monotonic() - still_since > 5:
            return waiting  # no task holds them: their task died with the server, or their enqueue did
        time.sleep(0.5)
    raise AssertionError(f"work did not settle in {seconds} s: {last} deliveries waiting / tasks queued")


def test_a_postgresql_restart_mid_intake_and_allocation_leaves_a_consistent_state(private_postgres, tmp_path):  # noqa: F811
    started = time.monotonic()
    figures: Counter = Counter()
    deliveries, orders = load()
    pg = private_postgres
    processes = Processes(tmp_path)
    try:
        url = pg.create_database(DATABASE)
        env = production_env(
            DATABASE_URL=url,
            INTAKE_FOLLOWUP_TASK="",
            Q_TIMEOUT="10",
            Q_RETRY="15",
            STATIC_MANIFEST="false",
            WEB_CONCURRENCY="2",
            **traffic.SECRETS,
        )
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "shell", "-v", "0", "-c", SEED_PRODUCTS.format(skus=SKUS))
        figures["ready at"] = round(time.monotonic() - started, 1)
        base = processes.web(env)
        processes.cluster("cluster", env)

        sender = traffic.Sender(base, threads=2, patience=90)
        errors: list[BaseException] = []

        def send() -> None:
            try:
                sender.send(deliveries)
            except BaseException as exc:
                errors.append(exc)

        wait_for_log(tmp_path / "cluster.log", "running.")
        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        # first while the web takes deliveries and the worker applies them, then while only the worker works
        while thread.is_alive() and sender.figures["acknowledged"] < len(deliveries) // 2:
            time.sleep(0.02)
        pg.restart()
        figures["restart 1: acknowledged"] = sender.figures["acknowledged"]
        figures["restart 1: applied"] = applied(pg)
        while applied(pg) < 0.6 * (ORDERS + len(SKUS) * COUNTS_PER_SKU):
            time.sleep(0.05)
        pg.restart()
        figures["restart 2: acknowledged"] = sender.figures["acknowledged"]
        figures["restart 2: applied"] = applied(pg)
        thread.join()
        if errors:
            raise errors[0]
        figures["sent at"] = round(time.monotonic() - started, 1)
        left_received = wait_until_settled(pg, 120)
        figures["settled at"] = round(time.monotonic() - started, 1)
        # what the intake.process_received schedule does every two minutes, run now rather than waited for
        figures["picked up by process_received"] = int(manage(env, "shell", "-v", "0", "-c", PICK_UP).strip())
        [(failed_before_replay,)] = pg.query(
            DATABASE, "SELECT count(*) FROM backorders_webhookdelivery WHERE status = 'failed'"
        )
        replayed = manage(env, "replay_webhooks", "--failed").strip().splitlines()[-1]
        figures["applied proposals"] = int(manage(env, "shell", "-v", "0", "-c", APPLY_PROPOSALS).strip())
    finally:
        processes.stop_all()
    check_invariants(pg, orders, figures)
    figures.update(sender.figures)
    figures["left received after settling"] = left_received
    figures["failed before replay"] = failed_before_replay
    print(
        f"\ndatabase restart: {pg.restarts} crash restarts, {len(deliveries)} deliveries sent; {replayed}; "
        + ", ".join(f"{k}={v}" for k, v in figures.items())
        + f"; {time.monotonic() - started:.1f} s"
    )


def check_invariants(pg: PrivatePostgres, orders: dict[int, list], figures: Counter) -> None:
    q = lambda sql: pg.query(DATABASE, sql)  # noqa: E731

    statuses = dict(q("SELECT status, count(*) FROM backorders_webhookdelivery GROUP BY status"))
    figures.update({f"deliveries {status}": count for status, count in statuses.items()})
    assert set(statuses) <= {"processed", "ignored", "duplicate"}, statuses
    assert q("SELECT count(*) FROM backorders_webhookdelivery WHERE status='rejected'") == [(0,)]

    # every order once, whole
    kept = dict(
        q(
            "SELECT o.external_id, count(l.id) FROM backorders_order o"
            " LEFT JOIN backorders_orderline l ON l.order_id = o.id GROUP BY o.id"
        )
    )
    assert q("SELECT count(*) FROM backorders_order") == [(len(orders),)]
    assert kept == {str(order_id): len(lines) for order_id, lines in orders.items()}

    # per SKU: the last count is on hand; allocated = min(demand, supply) = what the lines hold
    demand = Counter()
    for lines in orders.values():
        for sku, quantity in lines:
            demand[sku] += quantity
    rows = q(
        "SELECT p.sku, p.on_hand, p.allocated, coalesce(sum(l.allocated - l.shipped), 0), coalesce(sum(l.quantity), 0)"
        " FROM backorders_product p LEFT JOIN backorders_orderline l ON l.product_id = p.id AND l.state <> 'cancelled'"
        " GROUP BY p.id ORDER BY p.sku"
    )
    assert [row[0] for row in rows] == SKUS
    for sku, on_hand, allocated, held, wanted in rows:
        assert wanted == demand[sku], sku
        assert on_hand == SUPPLY[sku], (sku, on_hand)
        assert allocated == held == min(demand[sku], SUPPLY[sku]), (sku, allocated, held, demand[sku], SUPPLY[sku])
    assert q("SELECT count(*) FROM backorders_stockallocation WHERE status = 'proposed'") == [(0,)]
    # the allocation trail adds up to what is allocated: no grant written without its record, or the reverse
    trail = dict(
        q(
            "SELECT p.sku, coalesce(sum(a.applied_units), 0) FROM backorders_product p LEFT JOIN"
            " backorders_stockallocation a ON a.product_id = p.id AND a.status = 'applied' GROUP BY p.sku"
        )
    )
    assert trail == {sku: allocated for sku, _, allocated, _, _ in rows}
    assert q("SELECT count(*) FROM django_q_ormq") == [(0,)]
    figures["units allocated"] = sum(min(demand[sku], SUPPLY[sku]) for sku in SKUS)
