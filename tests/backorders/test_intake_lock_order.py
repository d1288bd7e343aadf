"""Intake and allocation on real PostgreSQL connections: one lock order, and lock cycles retried.

Each test runs two transactions on two threads (two connections) and steers them into the shape
that deadlocked in production: one holds a product's row and then needs order lines, the other
an order's lines and then the product. A thread waits until PostgreSQL reports the other as
waiting on a lock (``pg_stat_activity``) before it takes its second step, so the interleaving is
the same on every run.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import F, Sum

from backorders.allocation import apply_stock_count, lock_products
from backorders.intake.orders import LineFacts, OrderFacts, upsert_order
from backorders.models import Order, OrderLine, Product, StockAllocation, StorePolicy, TaskDebounce, WebhookDelivery
from backorders.tasks import process_delivery
from tests import factories
from tests.backorders.intake_samples import INTAKE_SETTINGS, compact, post_shopify, sample

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PLACED = datetime(2026, 9, 3, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked(pid: int, timeout: float = 15) -> None:
    """Until the backend ``pid`` waits on a row or transaction lock held by someone else."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on a lock")


class Pair:
    """Two jobs on two threads; each gets the other's backend pid; errors are kept, threads joined."""

    def __init__(self):
        self.pids: dict[str, int] = {}
        self.ready = threading.Barrier(2)
        self.errors: dict[str, BaseException] = {}
        self.results: dict[str, object] = {}

    def run(self, **jobs) -> None:
        def runner(name, job):
            try:
                self.pids[name] = backend_pid()
                self.ready.wait(timeout=10)
                self.results[name] = job(self)
            except BaseException as exc:
                self.errors[name] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=runner, args=item) for item in jobs.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a thread hung"


def order_facts(external_id: str, quantity: int, *, minutes: int) -> OrderFacts:
    return OrderFacts(
        channel="shopify",
        external_id=external_id,
        number=f"#{external_id}",
        placed_at=PLACED + timedelta(minutes=minutes),
        updated_at=PLACED + timedelta(minutes=minutes),
        lines=[LineFacts(f"{external_id}-1", "LOCK-1", "Lamp", quantity, Decimal("10.00"))],
    )


def books(product: Product) -> tuple[int, int, int]:
    """(product.allocated, what its lines hold, what its applied trail adds up to)."""
    product.refresh_from_db()
    held = OrderLine.objects.filter(product=product).aggregate(n=Sum(F("allocated") - F("shipped")))["n"] or 0
    trail = StockAllocation.objects.filter(product=product, status="applied").aggregate(n=Sum("applied_units"))["n"]
    return product.allocated, held, trail or 0


@pytest.mark.parametrize("change", ["edit", "cancellation"])
def test_an_order_edit_or_cancellation_and_a_stock_count_on_the_same_product_never_deadlock(policy, change):
    StorePolicy.objects.filter(pk=policy.pk).update(auto_apply_allocation=True)
    lamp = factories.ProductFactory(sku="LOCK-1", on_hand=2, allocated=0)
    upsert_order(order_facts("1001", 5, minutes=0))  # holds 2 of 5
    upsert_order(order_facts("1002", 1, minutes=1))  # waits for 1
    edit = order_facts("1001", 1 if change == "edit" else 5, minutes=0)
    edit.updated_at = PLACED + timedelta(hours=1)
    if change == "cancellation":
        edit.status, edit.cancelled_at = Order.Status.CANCELLED, edit.updated_at

    def count(pair: Pair):
        # a channel's count: it holds the product, then reads the lines that wait on it
        with transaction.atomic():
            lock_products([lamp.pk])
            wait_until_blocked(pair.pids["edit"])
            apply_stock_count(lamp.pk, 6, reference="count during an edit")

    def edit_order(pair: Pair):
        time.sleep(0.2)  # the count takes the product first
        return upsert_order(edit)

    pair = Pair()
    pair.run(count=count, edit=edit_order)
    assert pair.errors == {}, pair.errors  # before: "deadlock detected" on one side
    assert pair.results["edit"].applied
    first, second = (Order.objects.get(external_id=n).lines.get() for n in ("1001", "1002"))
    if change == "edit":
        assert (first.quantity, first.allocated, second.allocated) == (1, 1, 1)
    else:
        assert (first.state, first.allocated, second.allocated) == ("cancelled", 0, 1)
    allocated, held, trail = books(lamp)
    assert allocated == held == trail == (2 if change == "edit" else 1)


def shopify_order(quantity: int, updated_at: str) -> bytes:
    payload = sample("shopify-orders-create.json")
    payload.update(cancelled_at=None, cancel_reason=None, financial_status="paid", updated_at=updated_at)
    payload["line_items"] = payload["line_items"][:1]
    payload["line_items"][0]["quantity"] = quantity
    return compact(payload)


def deadlock_a_delivery(client) -> tuple[Product, WebhookDelivery, Pair]:
    """An order edit whose task meets a real lock cycle: another transaction holds the product,
    then wants the delivery the task holds. PostgreSQL breaks it by failing the task's transaction
    (the other side is told to wait longer before it checks)."""
    ipod = factories.ProductFactory(sku="IPOD2008PINK", shopify_variant_id="808950810", on_hand=5)
    post_shopify(client, "orders/create", shopify_order(3, "2026-09-03T10:00:00-04:00"), webhook_id="w-1")
    assert process_delivery(WebhookDelivery.objects.get().pk) == "processed"
    response = post_shopify(client, "orders/updated", shopify_order(1, "2026-09-03T11:00:00-04:00"), webhook_id="w-2")
    edit = WebhookDelivery.objects.get(pk=response.json()["delivery"])

    def other(pair: Pair):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '20s'")
            cursor.execute("SELECT 1 FROM backorders_product WHERE id = %s FOR UPDATE", [ipod.pk])
            wait_until_blocked(pair.pids["task"])
            cursor.execute("SELECT 1 FROM backorders_webhookdelivery WHERE id = %s FOR UPDATE", [edit.pk])

    def task(pair: Pair):
        time.sleep(0.2)
        return process_delivery(edit.pk)

    pair = Pair()
    pair.run(other=other, task=task)
    return ipod, edit, pair


def test_a_deadlock_inside_a_delivery_is_retried_in_the_task_and_applied(client, caplog):
    with caplog.at_level("WARNING", logger="backorders.intake"):
        ipod, edit, pair = deadlock_a_delivery(client)
    assert pair.errors == {}, pair.errors  # before: the task raised and the delivery stayed failed
    assert pair.results["task"] == "processed"
    assert any("deadlock detected" in record.getMessage() for record in caplog.records)
    edit.refresh_from_db()
    assert (edit.status, edit.attempts) == ("processed", 1)  # the rolled-back try left nothing behind
    line = Order.objects.get().lines.get()
    assert (line.quantity, line.allocated) == (1, 1)
    assert books(ipod) == (1, 1, 1)


def test_a_delivery_whose_lock_cycles_outlast_the_task_s_tries_waits_for_the_schedule(client, monkeypatch):
    from backorders.tasks import retry_waiting

    monkeypatch.setattr("backorders.tasks.TRANSIENT_ATTEMPTS", 1)  # the first cycle uses up the tries
    ipod, edit, pair = deadlock_a_delivery(client)
    assert pair.errors == {} and pair.results["task"] == "waiting"
    edit.refresh_from_db()
    assert (edit.status, edit.waiting_for) == ("waiting", "") and "deadlock detected" in edit.error
    assert edit.retry_at is not None
    with time_machine.travel(edit.retry_at + timedelta(seconds=1)):  # its time comes
        assert retry_waiting() == 1
    edit.refresh_from_db()
    assert edit.status == "processed"
    assert books(ipod) == (1, 1, 1)


def test_a_re_send_of_a_delivery_that_failed_is_applied_again_not_answered_duplicate(client, policy):
    ipod = factories.ProductFactory(sku="IPOD2008PINK", shopify_variant_id="808950810", on_hand=5)
    post_shopify(client, "orders/create", shopify_order(3, "2026-09-03T10:00:00-04:00"), webhook_id="w-1")
    process_delivery(WebhookDelivery.objects.get().pk)
    cancelled = sample("shopify-orders-create.json")
    cancelled["line_items"] = cancelled["line_items"][:1]
    cancelled["line_items"][0]["quantity"] = 3
    cancelled.update(updated_at="2026-09-03T12:00:00-04:00", cancelled_at="2026-09-03T12:00:00-04:00")
    body = compact(cancelled)
    first = post_shopify(client, "orders/cancelled", body, webhook_id="w-cancel").json()
    # as in production: the first try lost a lock cycle and was kept as failed
    WebhookDelivery.objects.filter(pk=first["delivery"]).update(
        status="failed", error="OperationalError: deadlock detected"
    )

    again = post_shopify(client, "orders/cancelled", body, webhook_id="w-cancel")
    assert again.status_code == 200
    assert again.json() == {"delivery": first["delivery"], "status": "received", "duplicate": False}
    attempt = WebhookDelivery.objects.order_by("pk").last()
    assert (attempt.status, attempt.error) == ("duplicate", f"re-sent: delivery {first['delivery']} is applied again")
    assert process_delivery(first["delivery"]) == "processed"
    order = Order.objects.get()
    assert order.status == "cancelled"
    assert books(ipod) == (0, 0, 0)
    # a third copy, after it was applied, is a plain duplicate
    third = post_shopify(client, "orders/cancelled", body, webhook_id="w-cancel").json()
    assert third["duplicate"] is True


def test_the_follow_up_mark_is_not_held_while_the_delivery_s_transaction_is_open(settings):
    """The mark is claimed after commit: another worker claiming it never waits on our row locks."""
    from backorders.tasks import request_followup

    settings.INTAKE_FOLLOWUP_TASK = "packets.tasks.run_sweep"
    TaskDebounce.objects.create(task="packets.tasks.run_sweep", pending_since=None)

    def delivery(pair: Pair):
        with transaction.atomic():
            request_followup()  # before: the mark's row was locked here until commit
            pair.ready.wait(timeout=10)  # the other worker claims while this transaction is open
            pair.ready.wait(timeout=10)

    def other_worker(pair: Pair):
        pair.ready.wait(timeout=10)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
                claim = (
                    "UPDATE backorders_taskdebounce SET pending_since = now() WHERE task = %s AND pending_since IS NULL"
                )
                cursor.execute(claim, ["packets.tasks.run_sweep"])
                return cursor.rowcount
        finally:
            pair.ready.wait(timeout=10)

    pair = Pair()
    pair.run(delivery=delivery, other_worker=other_worker)
    assert pair.errors == {}, pair.errors  # before: "canceling statement due to lock timeout"
    assert pair.results["other_worker"] == 1
