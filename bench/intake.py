"""Intake: webhook acknowledgement over real HTTP, the worker's processing rate, and CSV imports.

Baselines: the same server answering its login page (no database work) for the webhook; a raw
psycopg ``COPY`` of the same order and line rows for processing and imports (in a transaction
that is rolled back, so the store is left as it was).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import requests
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from backorders.models import Order, OrderLine, WebhookDelivery
from backorders.tasks import process_pending

from .core import Context, Result, percentile
from .server import WebServer
from .shopify import edited_payload, orders_csv, signed_delivery


class _Rollback(Exception):
    pass


def timed_then_rolled_back(write: Callable[[object], None], prepare: Callable[[], object] = lambda: None) -> float:
    """Seconds ``write(prepare())`` takes, with the foreign-key checks a commit would run, in a
    transaction rolled back afterwards (``prepare`` is not timed)."""
    elapsed = 0.0
    try:
        with transaction.atomic():
            prepared = prepare()
            started = time.perf_counter()
            write(prepared)
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign-key checks a commit would run
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


def _next_ids() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM backorders_order")
        first_order = cursor.fetchone()[0] + 1
        cursor.execute("SELECT COALESCE(max(id), 0) FROM backorders_orderline")
        return first_order, cursor.fetchone()[0] + 1


def copy_orders(orders: list[dict]) -> float:
    """Seconds to COPY the orders and their lines into the store's tables, checked as a commit would; rolled back."""
    from packets.seeding.scale import copy_rows

    def write(first: tuple[int, int]) -> None:
        first_order, first_line = first
        order_rows, line_rows = [], []
        line_id = first_line
        for i, o in enumerate(orders):
            order_id = first_order + i
            status = "fulfilled" if o["fulfilled"] else "open"
            order_rows.append(("copy", f"copy-{o['name']}", o["name"], o["placed_at"], o["total"], o["total"], status))
            for product, quantity, shipped in o["lines"]:
                state = "shipped" if shipped else "pending"
                units = quantity if shipped else 0
                line_rows.append((line_id, order_id, product, quantity, units, units, Decimal("40.00"), state))
                line_id += 1
        copy_rows(
            Order,
            ["id", "channel", "external_id", "number", "placed_at", "subtotal", "total", "status"],
            ((first_order + i, *row) for i, row in enumerate(order_rows)),
        )
        copy_rows(
            OrderLine,
            ["id", "order_id", "product_id", "quantity", "allocated", "shipped", "unit_price", "state"],
            line_rows,
        )

    return timed_then_rolled_back(write, _next_ids)


# --------------------------------------------------------------------------- webhooks


def webhook_ack(ctx: Context) -> list[Result]:
    """Sequential signed deliveries over one keep-alive connection, each beside a login-page GET."""
    count = ctx.n(2000, 20)
    now = timezone.now()
    deliveries = [signed_delivery(i, ctx.products, now=now) for i in range(count + 5)]
    ours: list[float] = []
    base: list[float] = []
    with WebServer(ctx.child_env, ctx.log_dir / "gunicorn.log") as server, requests.Session() as session:
        hook, login = server.url + "/webhooks/shopify/", server.url + "/accounts/login/"
        for body, headers in deliveries[count:]:  # warm both paths in every worker
            session.post(hook, data=body, headers=headers).raise_for_status()
            session.get(login).raise_for_status()
        for body, headers in deliveries[:count]:
            started = time.perf_counter()
            answer = session.post(hook, data=body, headers=headers)
            ours.append(time.perf_counter() - started)
            if answer.status_code != 200 or answer.json().get("duplicate"):
                raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text[:200]}")
            started = time.perf_counter()
            session.get(login).raise_for_status()
            base.append(time.perf_counter() - started)
    label = "GET /accounts/login/ on the same server (no database work)"
    note = f"{count} sequential signed orders/create deliveries, gunicorn 2 workers x 2 threads, keep-alive"
    return [
        Result(
            "webhook_ack_p50_ms",
            percentile(ours, 50) * 1000,
            "ms",
            percentile(base, 50) * 1000,
            note=note,
            baseline_label=label,
        ),
        Result(
            "webhook_ack_p99_ms",
            percentile(ours, 99) * 1000,
            "ms",
            percentile(base, 99) * 1000,
            target="<= 50",
            note=note,
            baseline_label=label,
        ),
    ]


def _delivered_orders(deliveries: list[WebhookDelivery]) -> list[dict]:
    orders = []
    for d in deliveries:
        p = json.loads(bytes(d.body))
        orders.append(
            {
                "name": p["name"],
                "placed_at": datetime.fromisoformat(p["created_at"].replace("Z", "+00:00")),
                "total": Decimal(p["total_price"]),
                "fulfilled": False,
                "lines": [
                    (int(li["variant_id"]) - 40_000_000_000_000, li["quantity"], False) for li in p["line_items"]
                ],
            }
        )
    return orders


def intake_rate(ctx: Context) -> list[Result]:
    """The worker's ``process_pending`` over every delivery the webhook phase stored: batches, one cluster."""
    from django.conf import settings

    pending = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED, source="shopify").order_by("pk")
    )
    if not pending:
        return [
            Result(
                "intake_per_s", None, "/s", target=">= 150", note="no stored deliveries (the webhook phase did not run)"
            )
        ]
    started = time.perf_counter()
    parsed = _delivered_orders(pending)
    parse_seconds = time.perf_counter() - started
    copy_seconds = copy_orders(parsed) + parse_seconds
    started = time.perf_counter()
    process_pending(max_seconds=ctx.intake_budget or 3600)
    elapsed = time.perf_counter() - started
    ids = [d.pk for d in pending]
    done = WebhookDelivery.objects.filter(pk__in=ids, status=WebhookDelivery.Status.PROCESSED).count()
    left = WebhookDelivery.objects.filter(pk__in=ids, status=WebhookDelivery.Status.RECEIVED).count()
    if done + left != len(pending):
        raise RuntimeError(f"only {done} of {len(pending) - left} applied deliveries processed")
    _clear_queue()
    note = (
        f"{done} deliveries (2 lines each), one cluster, batches of {settings.INTAKE_BATCH_SIZE} "
        "(one transaction each; new orders written together, other deliveries a savepoint each)"
    )
    if left:
        note += f"; stopped at the {ctx.intake_budget:.0f}s budget, {left} left unprocessed"
    return [
        Result(
            "intake_per_s",
            done / elapsed,
            "/s",
            len(pending) / copy_seconds,
            target=">= 150",
            note=note,
            baseline_label="json.loads + COPY of the same order and line rows",
        )
    ]


def _edits_baseline(orders: list[tuple[int, bytes]]) -> float:
    """Seconds to read the edits' bodies and write what they change set-based (the orders' address
    and total; the raised lines' quantity): two statements, checked as a commit would; rolled back."""

    def write(_) -> None:
        ids, cities, postals, totals, raised = [], [], [], [], []
        for order_id, body in orders:
            p = json.loads(body)
            ids.append(order_id)
            cities.append(p["shipping_address"]["city"])
            postals.append(p["shipping_address"]["zip"])
            totals.append(Decimal(p["total_price"]))
            if p["line_items"][0]["quantity"] != 1:
                raised.append((order_id, p["line_items"][0]["quantity"]))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE backorders_order AS o SET shipping_city = v.city, shipping_postal_code = v.postal, "
                "total = v.total, updated_at = now() FROM unnest(%s::bigint[], %s::text[], %s::text[], "
                "%s::numeric[]) AS v(id, city, postal, total) WHERE o.id = v.id",
                [ids, cities, postals, totals],
            )
            cursor.execute(
                "UPDATE backorders_orderline AS l SET quantity = v.quantity FROM (SELECT DISTINCT ON (order_id) "
                "id, order_id FROM backorders_orderline WHERE order_id = ANY(%s) ORDER BY order_id, id) AS f "
                "JOIN unnest(%s::bigint[], %s::int[]) AS v(order_id, quantity) ON v.order_id = f.order_id "
                "WHERE l.id = f.id",
                [[o for o, _ in raised], [o for o, _ in raised], [q for _, q in raised]],
            )

    return timed_then_rolled_back(write)


def intake_edits(ctx: Context) -> list[Result]:
    """The worker's ``process_pending`` over a stream of ``orders/updated`` deliveries for orders it
    already holds (those the webhook phase sent): each a new address, a note and a tag, one in four
    a line raised to two units. The deliveries are stored through the webhook view in process (its
    answer is measured in the webhook phase), then applied as in production: batches, one cluster."""
    from django.conf import settings
    from django.test import Client

    orders = list(
        Order.objects.filter(channel="shopify", number__startswith="#B")
        .order_by("pk")
        .values_list("pk", "number", "placed_at")
    )[: ctx.n(2000, 20)]
    if not orders:
        return [
            Result("intake_edits_per_s", None, "/s", target=">= 150", note="no orders from the webhook phase to edit")
        ]
    client, edited_at, sent = Client(), timezone.now(), []
    for pk, number, placed_at in orders:
        n = int(number[2:])
        created = placed_at + timedelta(minutes=n)  # order_payload placed order n n minutes before its "now"
        payload = edited_payload(n, ctx.products, now=created, edited_at=edited_at)
        body, headers = signed_delivery(n, ctx.products, now=edited_at, payload=payload, topic="orders/updated")
        answer = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"webhook answered {answer.status_code}: {answer.content[:200]!r}")
        sent.append((pk, body))
    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED, topic="orders/updated").values_list(
            "pk", flat=True
        )
    )
    baseline = _edits_baseline(sent)
    started = time.perf_counter()
    process_pending(max_seconds=ctx.intake_budget or 3600)
    elapsed = time.perf_counter() - started
    statuses = dict(WebhookDelivery.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("pk")).order_by())
    done, left = statuses.get(WebhookDelivery.Status.PROCESSED, 0), statuses.get(WebhookDelivery.Status.RECEIVED, 0)
    if done + left != len(ids):
        raise RuntimeError(f"edits ended as {statuses}")
    raised = Order.objects.filter(pk__in=[pk for pk, _ in sent], lines__quantity=2).distinct().count()
    if raised * 4 < done - 4:
        raise RuntimeError(f"only {raised} of the {done} edited orders have their raised line")
    _clear_queue()
    note = (
        f"{done} orders/updated deliveries for orders already held (address, note, tag; one in four a line "
        f"raised to 2 units), one cluster, batches of {settings.INTAKE_BATCH_SIZE} (one transaction each, "
        "a savepoint per delivery)"
    )
    if left:
        note += f"; stopped at the {ctx.intake_budget:.0f}s budget, {left} left unprocessed"
    return [
        Result(
            "intake_edits_per_s",
            done / elapsed,
            "/s",
            len(ids) / baseline,
            target=">= 150",
            note=note,
            baseline_label="json.loads + two set-based UPDATEs of the same order and line fields",
        )
    ]


def _clear_queue() -> None:
    """The web server enqueued every delivery for a worker that never ran: drop those tasks."""
    from django_q.models import OrmQ

    from backorders.models import TaskDebounce

    OrmQ.objects.all().delete()
    TaskDebounce.objects.update(pending_since=None)


# --------------------------------------------------------------------------- CSV


class _OverBudget(Exception):
    def __init__(self, done: int):
        super().__init__(done)
        self.done = done


def csv_import(ctx: Context) -> list[Result]:
    """The orders importer over a 100,000-row export, in a transaction rolled back afterwards.

    The importer writes batches of orders, each in its own transaction; here they are savepoints
    of one transaction that is rolled back, so the phases after this one see the seeded store.
    The deferred foreign-key checks a commit would run are run inside the timing (``SET
    CONSTRAINTS ALL IMMEDIATE``). Past ``ctx.csv_budget`` seconds (checked from the importer's
    progress callback, once per batch) the rest is extrapolated linearly.
    """
    from backorders.intake.csv_import import Report, importers, read_rows

    rows_wanted = ctx.n(100_000, 100)
    content, orders = orders_csv(rows_wanted, ctx.products, now=timezone.now())
    for o in orders:
        o["total"] = Decimal("89.35")
    copy_seconds = copy_orders(orders)
    importer = importers()["orders"]
    report = Report()
    marks: list[tuple[float, int]] = []  # (time, rows done) at each progress call; the first after checking

    def progress(done: int) -> None:
        now = time.perf_counter()
        marks.append((now, done))
        if ctx.csv_budget and now - marks[0][0] > ctx.csv_budget and done < len(rows):
            raise _OverBudget(done)

    rows: list = []
    try:
        with transaction.atomic():
            started = time.perf_counter()
            _, rows = read_rows(content)
            try:
                importer.run(rows, report, progress)
                done = len(rows)
            except _OverBudget as stop:
                done = stop.done
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT would check
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    errors = report.error_count
    if errors or report.counts.get("created", 0) * 2 < done - 1:
        raise RuntimeError(f"the import reported {errors} errors: {report.entries[:3]}")
    note = (
        f"{rows_wanted:,} rows, {len(orders):,} new orders (Shopify orders export) through the orders importer, "
        "in a transaction rolled back after (deferred constraint checks included)"
    )
    value = elapsed
    if done < len(rows):
        # reading and checking the file happen once; batches of orders are written after that
        fixed = marks[0][0] - started
        rate = (done - marks[0][1]) / (elapsed - fixed)
        value = fixed + (len(rows) - marks[0][1]) / rate
        note += (
            f"; stopped at the {ctx.csv_budget:.0f}s budget after {done:,} rows: reading and checking the file "
            f"took {fixed:.1f}s, then {rate:.0f} rows/s, the rest extrapolated at that rate"
        )
    else:
        note += f"; reading and checking the file took {marks[0][0] - started:.1f}s"
    return [
        Result(
            "csv_import_100k_s",
            value,
            "s",
            copy_seconds,
            target="<= 10",
            note=note,
            baseline_label="COPY of the same order and line rows",
        )
    ]
