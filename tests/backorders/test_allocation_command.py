"""`manage.py receive_stock` on a store, the demo store included, and the cost of a big restock."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F, Sum
from django.utils import timezone

from backorders.allocation import receive_stock
from backorders.models import Customer, Order, OrderLine, Product, StockAllocation, StorePolicy
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("receive_stock", *args, stdout=out)
    return out.getvalue()


def test_it_receives_by_sku_and_leaves_a_short_plan_for_the_owner(policy):
    kettle = factories.ProductFactory(sku="KETTLE-2L", on_hand=0)
    line = factories.BackorderedLineFactory(product=kettle, quantity=3)

    output = run("kettle-2l", "2", "--reference", "PO-123")

    record = StockAllocation.objects.get(product=kettle)
    assert (record.status, record.reference, record.kind) == ("proposed", "PO-123", "receipt")
    assert f"allocation {record.pk} awaits the owner's review" in output
    line.refresh_from_db()
    kettle.refresh_from_db()
    assert (line.allocated, kettle.on_hand) == (0, 2)


def test_approve_applies_it_as_the_owner_would(policy):
    kettle = factories.ProductFactory(sku="KETTLE-2L", on_hand=0)
    line = factories.BackorderedLineFactory(product=kettle, quantity=3)

    output = run("KETTLE-2L", "2", "--approve")

    line.refresh_from_db()
    assert line.allocated == 2 and line.state == "partial"
    assert f"{line.order.number}: gets 2 of 3" in output and "Applied: 2 unit(s)" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["NOPE", "3"], "No product with SKU 'NOPE'"), (["KETTLE-2L", "0"], "at least one unit")],
)
def test_it_refuses_bad_input_with_a_reason(policy, args, message):
    factories.ProductFactory(sku="KETTLE-2L")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not StockAllocation.objects.exists()


def service_key(line: OrderLine, policy: StorePolicy) -> tuple:
    """The documented order of service, written out independently of the planner."""
    order = line.order
    qualifies = {
        "vip": order.customer is not None and order.customer.orders_count >= policy.vip_min_orders,
        "contract": order.priority_class == "contract",
        "express": order.express,
        "standard": True,
    }
    rank = next(i for i, name in enumerate(policy.priority_classes) if qualifies.get(name))
    return (rank, order.placed_at, order.pk, line.pk)


def test_on_the_demo_store_ten_kettles_go_to_the_first_waiting_orders_in_line():
    call_command("seed_demo", "--allow-production", stdout=io.StringIO())
    policy = StorePolicy.objects.current()
    kettle = Product.objects.get(sku="KETTLE-2L")
    queue = sorted(
        OrderLine.objects.waiting().filter(product=kettle).select_related("order__customer"),
        key=lambda line: service_key(line, policy),
    )
    before = {line.pk: line.allocated for line in queue}
    demand = sum(line.quantity - line.allocated for line in queue)
    assert demand > 10, "the demo keeps more kettles waiting than one carton holds"

    run("KETTLE-2L", "10", "--approve")

    got = [OrderLine.objects.get(pk=line.pk).allocated - before[line.pk] for line in queue]
    assert sum(got) == 10
    served = [i for i, units in enumerate(got) if units]
    assert served == list(range(len(served))), "units go down the line, nobody skipped"
    for i in served[:-1]:
        assert got[i] == queue[i].quantity - before[queue[i].pk], "each one served in full before the next"
    kettle.refresh_from_db()
    held = OrderLine.objects.filter(product=kettle).aggregate(n=Sum(F("allocated") - F("shipped")))["n"]
    assert kettle.allocated == held
    assert OrderLine.objects.filter(product=kettle, state="allocated", allocated_at__isnull=False).exists()


def make_waiting(product: Product, count: int) -> None:
    customer = Customer.objects.create(name="Bulk buyer", email=f"bulk{count}@example.com")
    start = timezone.now() - timedelta(days=30)
    orders = Order.objects.bulk_create(
        Order(
            channel="shopify",
            external_id=f"bulk-{count}-{i}",
            number=f"#B{count}-{i}",
            customer=customer if i % 7 == 0 else None,
            express=i % 5 == 0,
            placed_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=1 + i % 2, state="backordered", backordered_at=start)
        for i, order in enumerate(orders)
    )


@pytest.mark.postgres
@pytest.mark.parametrize(("lines", "units"), [(50, 10), (5000, 1000)])
def test_a_restock_costs_the_same_number_of_queries_for_fifty_lines_or_five_thousand(
    policy, django_assert_num_queries, lines, units
):
    product = factories.ProductFactory(on_hand=0)
    make_waiting(product, lines)

    # savepoint; lock the product row; raise on_hand; current policy; the waiting lines (locked);
    # their orders (with customers); the open proposal; one UPDATE for every line served; the
    # product's allocated; AFTER_ALLOCATION: the outbound subscriptions (none), the served orders'
    # store holds (none); insert the trail row; release the savepoint
    with django_assert_num_queries(13):
        outcome = receive_stock(product.pk, units, approve=True)

    assert outcome.record.applied_units == units
    assert OrderLine.objects.filter(product=product).aggregate(n=Sum("allocated"))["n"] == units
