"""Receipts, new sales, cancellations and channel counts racing on real PostgreSQL connections."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from backorders.allocation import (
    apply_stock_count,
    approve_allocation,
    receive_stock,
    release_order,
    reserve_new_lines,
)
from backorders.models import Order, OrderLine, Product, StockAllocation, StorePolicy
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(*jobs) -> list[BaseException]:
    """Run each job in its own thread and connection, all released at the same moment."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job):
        try:
            barrier.wait(timeout=10)
            job()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (a lock cycle?)"
    return errors


def settle() -> None:
    """The owner approves whatever the race left for review (cancellations' units, short counts)."""
    for _ in range(50):
        proposal = StockAllocation.objects.proposed().first()
        if proposal is None:
            return
        approve_allocation(proposal.pk)
    raise AssertionError("proposals kept coming back")


def sell(products: list[Product], n: int) -> None:
    now = timezone.now()
    for i in range(n):
        with transaction.atomic():
            order = Order.objects.create(
                channel="shopify", external_id=f"race-{i}", number=f"#R{i}", placed_at=now + timedelta(seconds=i)
            )
            lines = [OrderLine.objects.create(order=order, product=p, quantity=1 + i % 2) for p in products]
            reserve_new_lines(lines)


def test_racing_receipts_sales_cancellations_and_counts_allocate_every_unit_once(policy):
    kettle, lamp, mug = (factories.ProductFactory(on_hand=0) for _ in range(3))
    waiting_orders = []
    for day in range(6):
        order = factories.OrderFactory(placed_at=timezone.now() - timedelta(days=10 - day))
        factories.BackorderedLineFactory(order=order, product=kettle, quantity=2)
        factories.BackorderedLineFactory(order=order, product=lamp, quantity=1)
        waiting_orders.append(order)

    errors = race(
        lambda: [receive_stock(kettle.pk, 1, reference=f"PO-K{i}", approve=True) for i in range(9)],
        lambda: [receive_stock(lamp.pk, 2, reference=f"PO-L{i}", approve=True) for i in range(3)],
        lambda: sell([lamp, kettle, mug], 6),
        lambda: [release_order(order.pk) for order in waiting_orders[::2]],
        lambda: [apply_stock_count(mug.pk, level, reference=f"count {level}") for level in (2, 4, 4, 7, 7)],
    )
    assert errors == []
    settle()

    assert Product.objects.get(pk=kettle.pk).on_hand == 9, "no receipt lost"
    assert Product.objects.get(pk=lamp.pk).on_hand == 6
    assert Product.objects.get(pk=mug.pk).on_hand == 7
    for product in Product.objects.filter(pk__in=[kettle.pk, lamp.pk, mug.pk]):
        live = OrderLine.objects.filter(product=product).exclude(state="cancelled")
        demand = live.aggregate(n=Sum("quantity"))["n"] or 0
        held = OrderLine.objects.filter(product=product).aggregate(n=Sum(F("allocated") - F("shipped")))["n"] or 0
        trail = StockAllocation.objects.filter(product=product).aggregate(n=Sum("applied_units"))["n"] or 0
        assert product.allocated == min(demand, product.on_hand), product
        assert product.allocated == held == trail, product
    assert not OrderLine.objects.filter(Q(allocated__gt=F("quantity")) | Q(state="cancelled", allocated__gt=0)).exists()
    assert not StockAllocation.objects.proposed().exists()


def test_two_owners_approving_the_same_proposal_at_once_apply_it_once(policy):
    kettle = factories.ProductFactory(on_hand=0)
    for day in range(4):
        factories.BackorderedLineFactory(
            order__placed_at=timezone.now() - timedelta(days=5 - day), product=kettle, quantity=2
        )
    proposal = receive_stock(kettle.pk, 5).record
    assert proposal.status == "proposed"

    errors = race(lambda: approve_allocation(proposal.pk), lambda: approve_allocation(proposal.pk))

    assert [str(error) for error in errors] == ["This allocation is applied; it cannot be applied."]
    kettle.refresh_from_db()
    assert kettle.allocated == 5
    assert OrderLine.objects.filter(product=kettle).aggregate(n=Sum("allocated"))["n"] == 5


def test_simultaneous_sales_of_the_last_units_never_oversell(policy):
    mug = factories.ProductFactory(on_hand=3)
    StorePolicy.objects.current()

    errors = race(*[lambda i=i: sell_one(mug, i) for i in range(5)])

    assert errors == []
    mug.refresh_from_db()
    assert (mug.on_hand, mug.allocated) == (3, 3)
    assert OrderLine.objects.filter(product=mug, state="allocated").count() == 3
    assert OrderLine.objects.filter(product=mug, state="backordered").count() == 2


def sell_one(product: Product, i: int) -> None:
    with transaction.atomic():
        order = Order.objects.create(
            channel="woocommerce", external_id=f"one-{i}", number=f"WC-{i}", placed_at=timezone.now()
        )
        reserve_new_lines([OrderLine.objects.create(order=order, product=product, quantity=1)])
