"""The incremental sweep: sources mark dirty keys, runs rebuild only what they reach, and the full
reconcile finds nothing left to change; two runs at once share the keys; a crash keeps them."""

from __future__ import annotations

import contextlib
import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backorders.allocation import receive_stock
from backorders.models import ChannelStock, Order, OrderLine, Product, StorePolicy
from packets.decisions import AlreadyDecided, decide
from packets.models import Case, DirtyCaseKey, Message, Packet
from packets.store_actions.stock_push import after_stock_change, push_channel_stock
from packets.sweep import changed as changed_module
from packets.sweep import run_sweep
from packets.sweep.changed import sweep_changed
from packets.sweep.dirty import claim, mark
from suppliers.models import SupplierSource
from tests import factories
from tests.packets.stock_fakes import shopify_stock  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wednesday


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def keys() -> set[str]:
    return set(DirtyCaseKey.objects.filter(due_at__lte=NOW).values_list("key", flat=True))


def settled() -> None:
    """Every change so far is swept: no key is due."""
    run_sweep(hooks=False)
    assert not keys()


def statements(captured) -> list[str]:
    """The queries a run sends (the savepoints of the test's own transaction left out)."""
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def waiting_order(product, *, supplier=None, **order) -> Order:
    placed = order.pop("placed_at", NOW - timedelta(days=1))
    o = factories.OrderFactory(placed_at=placed, promised_ship_by=(placed + timedelta(days=6)).date(), **order)
    factories.OrderLineFactory(order=o, product=product, quantity=2, state=OrderLine.State.BACKORDERED)
    return o


@pytest.fixture
def store(policy):
    supplier = factories.SupplierFactory(name="Copperline Goods")
    kettle = factories.ProductFactory(sku="KETTLE-2L", title="Copper Kettle", on_hand=0, price=Decimal("129.00"))
    factories.SupplierSourceFactory(supplier=supplier, product=kettle)
    factories.SupplierUpdateFactory(supplier=supplier, product=kettle, received_at=NOW - timedelta(days=1))
    order = waiting_order(kettle)
    shipment = factories.ShipmentFactory(order=order, label_created_at=NOW - timedelta(days=3))
    return {"supplier": supplier, "kettle": kettle, "order": order, "shipment": shipment}


# --------------------------------------------------------------------------- marking, source by source


def test_each_source_marks_the_keys_it_touches_in_its_own_transaction(store, owner):
    kettle, order, supplier = store["kettle"], store["order"], store["supplier"]
    settled()

    new = waiting_order(kettle)  # intake: an order
    assert keys() == {f"order:{new.pk}", f"product:{kettle.pk}"}
    settled()

    Product.objects.filter(pk=kettle.pk).update(on_hand=1)  # intake: stock
    assert keys() == {f"product:{kettle.pk}"}
    settled()

    factories.TrackingEventFactory(shipment=store["shipment"])  # intake: a carrier scan
    assert keys() == {f"shipment:{store['shipment'].pk}"}
    settled()

    factories.SupplierUpdateFactory(supplier=supplier, product=kettle, received_at=NOW)  # a supplier update
    assert keys() == {f"supplier:{supplier.pk}", f"product:{kettle.pk}"}
    settled()

    receive_stock(kettle.pk, 3, approve=True)  # a receipt and the allocations it makes
    assert {f"product:{kettle.pk}", f"order:{order.pk}", f"order:{new.pk}"} <= keys()
    settled()

    factories.InboundMessageFactory(order=order, customer=order.customer, received_at=NOW)  # a reply
    assert keys() == {f"order:{order.pk}", f"customer:{order.customer_id}"}
    settled()

    message = factories.MessageFactory(order=order, status=Message.Status.DRAFT)  # drafts mark nothing
    assert keys() == set()
    # a sent message does
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, approved_at=NOW, sent_at=NOW)
    assert keys() == {f"order:{order.pk}"}
    settled()

    stockout = Case.objects.get(dedupe_key=f"stockout:product:{kettle.pk}")
    decide(stockout.pk, owner, action="chase_supplier", note="Emailed Copperline")  # a decision
    assert f"stockout:product:{kettle.pk}" in keys()
    settled()

    policy = StorePolicy.objects.filter(pk=StorePolicy.objects.current().pk)
    policy.update(stock_watch_at=F("stock_watch_at") + 1)  # the policy
    assert keys() == {"all"}
    settled()

    with pytest.raises(RuntimeError), transaction.atomic():  # a change rolled back marks nothing
        Product.objects.filter(pk=kettle.pk).update(on_hand=7)
        raise RuntimeError
    assert keys() == set()


def test_a_key_marked_many_times_is_claimed_once_and_all_its_rows_go(store):
    settled()
    mark(["order:1"])
    mark(["order:1", "product:2"])
    mark(["order:1"])
    assert DirtyCaseKey.objects.filter(key="order:1").count() == 3
    with transaction.atomic():
        assert claim(NOW, 10) == ["order:1", "product:2"]
    assert not keys()


# --------------------------------------------------------------------------- incremental runs


def test_a_changed_order_rebuilds_its_case_and_the_full_reconcile_agrees(store):
    run_sweep(hooks=False)
    case = Case.objects.get(dedupe_key=f"backorder:order:{store['order'].pk}")
    Order.objects.filter(pk=store["order"].pk).update(promised_ship_by=NOW.date())
    result = sweep_changed(NOW)
    assert result.claimed == [f"order:{store['order'].pk}"]
    assert case.packets.count() == 2 and Case.objects.get(pk=case.pk).promise_at_risk
    assert not run_sweep(NOW, hooks=False).changed
    assert not sweep_changed(NOW).claimed  # nothing due: nothing read


def test_the_case_keeps_the_orders_value_and_promise_that_the_queue_ranks_by(store):
    run_sweep(hooks=False)
    key = f"backorder:order:{store['order'].pk}"
    order = Order.objects.get(pk=store["order"].pk)
    case = Case.objects.get(dedupe_key=key)
    assert (case.order_total, case.order_promised_ship_by) == (order.total, order.promised_ship_by)
    Order.objects.filter(pk=order.pk).update(total=Decimal("999.00"), promised_ship_by=NOW.date())
    sweep_changed(NOW)
    case.refresh_from_db()
    assert (case.order_total, case.order_promised_ship_by) == (Decimal("999.00"), NOW.date())
    assert not run_sweep(NOW, hooks=False).changed  # the full reconcile agrees


def test_nothing_due_is_one_query_and_one_changed_order_a_fixed_number_whatever_the_store(store, policy):
    run_sweep(hooks=False)
    with CaptureQueriesContext(connection) as idle:
        assert sweep_changed(NOW).claimed == []
    assert len(statements(idle)) == 2  # the shared sweep lock, then the claim that finds nothing

    def one_change_queries() -> int:
        Order.objects.filter(pk=store["order"].pk).update(promised_ship_by=F("promised_ship_by") + timedelta(days=1))
        with CaptureQueriesContext(connection) as run:
            assert sweep_changed(NOW).claimed == [f"order:{store['order'].pk}"]
        return len(statements(run))

    small = one_change_queries()
    for _ in range(30):  # a bigger store: other products, orders, suppliers, parcels and cases
        product = factories.ProductFactory(on_hand=0)
        factories.SupplierSourceFactory(product=product)
        factories.ShipmentFactory(order=waiting_order(product))
    run_sweep(hooks=False)
    # (the case's copy of the moved promise, which the queue ranks by, is written too)
    assert one_change_queries() == small == 35


def test_a_deadline_passing_is_due_on_the_clock_without_any_new_fact(store, frozen):
    run_sweep(hooks=False)
    order_key = f"backorder:order:{store['order'].pk}"
    due = DirtyCaseKey.objects.get(key=order_key).due_at
    assert NOW < due <= NOW + timedelta(days=1)  # the next store day, or an earlier deadline
    case = Case.objects.get(dedupe_key=order_key)
    assert not case.promise_at_risk
    assert not sweep_changed(NOW + timedelta(minutes=1)).claimed  # nothing due before its time
    later = NOW + timedelta(days=5)  # the promised ship-by date is near now
    frozen.move_to(later)
    result = sweep_changed(later)
    assert order_key in result.claimed
    assert Case.objects.get(pk=case.pk).promise_at_risk
    assert not run_sweep(later, hooks=False).changed
    assert DirtyCaseKey.objects.get(key=order_key).due_at > later  # the next tick is set


def test_a_supplier_update_leaving_the_lookback_is_due_on_the_clock(policy, frozen):
    supplier = factories.SupplierFactory()
    lamp = factories.ProductFactory(sku="LAMP", on_hand=40)
    factories.SupplierSourceFactory(supplier=supplier, product=lamp)
    said = NOW - timedelta(days=120) + timedelta(hours=2)
    factories.SupplierUpdateFactory(supplier=supplier, product=lamp, received_at=said)  # out of stock, still in view
    run_sweep(hooks=False)
    key = f"stockout:product:{lamp.pk}"
    assert Case.objects.get(dedupe_key=key).status == Case.Status.OPEN
    assert DirtyCaseKey.objects.get(key=key).due_at == said + timedelta(days=120, microseconds=1)
    later = NOW + timedelta(hours=3)
    frozen.move_to(later)
    assert key in sweep_changed(later).claimed
    assert Case.objects.get(dedupe_key=key).status == Case.Status.RESOLVED
    assert not run_sweep(later, hooks=False).changed


def test_a_crash_leaves_the_claimed_keys_for_the_next_run(store, monkeypatch):
    run_sweep(hooks=False)
    Order.objects.filter(pk=store["order"].pk).update(promised_ship_by=NOW.date())

    def crash(*args, **kwargs):
        raise RuntimeError("worker died mid-run")

    monkeypatch.setattr(changed_module, "reconcile", crash)
    with pytest.raises(RuntimeError):
        sweep_changed(NOW)
    assert keys() == {f"order:{store['order'].pk}"}
    monkeypatch.undo()
    assert sweep_changed(NOW).claimed == [f"order:{store['order'].pk}"]
    assert not keys()


def test_without_skip_locked_every_run_is_the_full_reconcile(store, monkeypatch):
    """SQLite (``make run``) has neither triggers nor ``SKIP LOCKED``: the run falls back to the full one."""
    monkeypatch.setattr(changed_module, "shares_keys", lambda: False)  # as on SQLite, on this database
    result = sweep_changed(NOW)
    assert result.opened >= 2 and not keys()


# --------------------------------------------------------------------------- random stores


def _random_change(rng: random.Random, products: list, suppliers: list, owner, now: datetime) -> None:
    orders = list(Order.objects.order_by("id"))
    lines = list(OrderLine.objects.order_by("id"))
    kind = rng.choice(
        [
            "order",
            "stock",
            "receipt",
            "allocate",
            "cancel",
            "update",
            "source",
            "scan",
            "parcel",
            "reply",
            "sent",
            "decide",
            "customer",
        ]
    )
    product = rng.choice(products)
    order = rng.choice(orders)
    if kind == "order":
        waiting_order(product, placed_at=now - timedelta(hours=rng.randint(1, 200)))
    elif kind == "stock":
        Product.objects.filter(pk=product.pk).update(on_hand=F("allocated") + rng.randint(0, 4))
    elif kind == "receipt":
        receive_stock(product.pk, rng.randint(1, 3), approve=True)
    elif kind == "source":
        source, made = SupplierSource.objects.get_or_create(
            supplier=rng.choice(suppliers), product=product, defaults={"role": "backup", "unit_cost": Decimal("20.00")}
        )
        if not made:
            SupplierSource.objects.filter(pk=source.pk).update(unit_cost=F("unit_cost") + 1)
    elif kind == "allocate":
        line = rng.choice(lines)
        OrderLine.objects.filter(pk=line.pk).update(allocated=line.quantity, state=OrderLine.State.ALLOCATED)
    elif kind == "cancel":
        Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED, cancelled_at=now)
    elif kind == "update":
        factories.SupplierUpdateFactory(
            supplier=rng.choice(suppliers),
            product=product,
            received_at=now,
            stock_status=rng.choice(["out_of_stock", "in_stock", "discontinued"]),
        )
    elif kind == "scan":
        shipment = factories.ShipmentFactory(order=order, label_created_at=now - timedelta(days=rng.randint(1, 9)))
        factories.TrackingEventFactory(shipment=shipment, occurred_at=now - timedelta(days=rng.randint(0, 8)))
    elif kind == "parcel":
        factories.ShipmentFactory(
            order=order, label_created_at=now - timedelta(days=rng.randint(1, 12)), supplier_name=suppliers[0].name
        )
    elif kind == "reply":
        factories.InboundMessageFactory(
            order=order, customer=order.customer, received_at=now, body=rng.choice(["Where is it?", "Cancel it now!"])
        )
    elif kind == "sent":
        factories.MessageFactory(order=order, status=Message.Status.SENT, approved_at=now, sent_at=now)
    elif kind == "decide":
        cases = list(Case.objects.open().filter(dedupe_key__startswith="backorder:").order_by("id"))
        if cases:
            with contextlib.suppress(AlreadyDecided):  # decided on these very facts already
                decide(rng.choice(cases).pk, owner, action="message_customer", note="Told them")
    else:
        order.customer.__class__.objects.filter(pk=order.customer_id).update(orders_count=rng.randint(1, 9))


def random_catalog(rng: random.Random) -> tuple[list, list]:
    """Three suppliers and eight products over three titles (replacements for each other), with
    a little stock or none."""
    suppliers = [factories.SupplierFactory() for _ in range(3)]
    products = []
    for n in range(8):
        product = factories.ProductFactory(title=f"Kettle {n % 3}", on_hand=rng.randint(0, 3))
        factories.SupplierSourceFactory(supplier=suppliers[n % 3], product=product)
        products.append(product)
    return products, suppliers


def _state() -> dict:
    return {
        case["dedupe_key"]: case
        for case in Case.objects.exclude(status=Case.Status.RESOLVED).values(
            "dedupe_key", "status", "category", "risk_level", "promise_at_risk", "recommended_action"
        )
    }


@pytest.mark.parametrize("seed", [3, 11, 29, 47, 109, 201, 215])
def test_incremental_runs_on_a_random_store_leave_the_full_reconcile_nothing_to_change(policy, owner, frozen, seed):
    rng = random.Random(seed)
    products, suppliers = random_catalog(rng)
    for _ in range(12):
        waiting_order(rng.choice(products), placed_at=NOW - timedelta(hours=rng.randint(1, 100)))
    run_sweep(NOW, hooks=False)
    now = NOW
    for _ in range(10):
        for _ in range(rng.randint(1, 9)):
            _random_change(rng, products, suppliers, owner, now)
        sweep_changed(now)
        now += timedelta(hours=rng.choice([0, 1, 7, 30, 50, 75]))
        frozen.move_to(now)
    sweep_changed(now)
    incremental = _state()
    versions = Packet.objects.count()
    assert not run_sweep(now, hooks=False).changed, "the full reconcile found work the incremental runs left"
    assert _state() == incremental and Packet.objects.count() == versions


# --------------------------------------------------------------------------- two clusters at once


@pytest.mark.django_db(transaction=True)
def test_two_clusters_share_the_keys_without_double_work_or_loss(policy):
    supplier = factories.SupplierFactory()
    products = [factories.ProductFactory(on_hand=0) for _ in range(4)]
    for product in products:
        factories.SupplierSourceFactory(supplier=supplier, product=product)
    orders = [waiting_order(products[n % 4]) for n in range(40)]
    run_sweep(NOW, hooks=False)
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(promised_ship_by=NOW.date())  # 40 keys
    marked = {f"order:{o.pk}" for o in orders}
    assert keys() == marked

    start = threading.Barrier(2)
    claimed: dict[str, list[str]] = {}
    failures: list[BaseException] = []

    def cluster(name: str) -> None:
        try:
            start.wait()
            claimed[name] = sweep_changed(NOW, batch=3).claimed
        except BaseException as error:  # reported by the test below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=cluster, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    assert claimed["a"] and claimed["b"], "both clusters took a share"
    assert not set(claimed["a"]) & set(claimed["b"]), "no key processed twice"
    assert set(claimed["a"]) | set(claimed["b"]) == marked and not keys(), "no key lost"
    for order in orders:  # each order's case got exactly one new version
        case = Case.objects.get(dedupe_key=f"backorder:order:{order.pk}")
        assert list(case.packets.order_by("version").values_list("version", flat=True)) == [1, 2]
        assert case.promise_at_risk
    assert not run_sweep(NOW, hooks=False).changed


def test_a_channel_offering_more_than_the_desk_is_a_fact_on_the_products_packets_until_corrected(
    store,
    settings,
    frozen,
    shopify_stock,  # noqa: F811
):
    settings.STOCK_SOURCE, settings.SHOPIFY_STOCK_LOCATION = "desk", "24826418"
    kettle = store["kettle"]
    Product.objects.filter(pk=kettle.pk).update(shopify_inventory_item_id="5501")
    settled()
    case = Case.objects.get(dedupe_key=f"backorder:order:{store['order'].pk}")
    assert "channel_oversell" not in case.packets.latest("version").content["product"]

    after_stock_change([kettle.pk])
    push_channel_stock(ChannelStock.objects.get(product=kettle).pk)  # the desk's 0 set on Shopify
    frozen.shift(timedelta(seconds=5))  # later, someone typed 6 into Shopify's admin
    ChannelStock.objects.filter(product=kettle).update(channel_available=6, channel_reported_at=timezone.now())
    after_stock_change([kettle.pk])  # Shopify offers 6 against the desk's 0: flagged, the product is due
    assert f"product:{kettle.pk}" in keys()
    sweep_changed(NOW)
    fact = case.packets.latest("version").content["product"]["channel_oversell"]
    assert fact == {"platform": "Shopify", "channel": 6, "desk": 0}

    frozen.shift(timedelta(seconds=5))
    push_channel_stock(ChannelStock.objects.get(product=kettle).pk)  # corrected: the fact goes
    assert f"product:{kettle.pk}" in keys()
    sweep_changed(NOW)
    assert "channel_oversell" not in case.packets.latest("version").content["product"]
