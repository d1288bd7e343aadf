"""Any sequence of restocks, sales, edits, cancellations, repeated counts and approvals keeps the books straight.

Each example runs inside a savepoint that is rolled back at the end, so examples never see each
other's rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from backorders.allocation import (
    AllocationError,
    annotate_available_to_promise,
    apply_stock_count,
    approve_allocation,
    receive_stock,
    release_order,
    reserve_new_lines,
)
from backorders.allocation_plan import priority_of
from backorders.intake.orders import LineFacts, OrderFacts, upsert_order
from backorders.models import Customer, Order, OrderLine, Product, StockAllocation, StorePolicy

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CLASSES = ["standard", "vip", "contract", "express"]


class AllocationMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.policy = StorePolicy.objects.current()
        self.products = [Product.objects.create(sku=f"HYP-{i}", title=f"Item {i}", on_hand=0) for i in range(2)]
        self.vip = Customer.objects.create(name="Vera", email="vera@example.com", orders_count=10)
        self.clock = datetime(2026, 1, 5, 9, 0).astimezone()
        self.orders: list[int] = []
        self.edits = 0
        self.plans_checked_up_to = 0

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def product(self, index: int) -> Product:
        return self.products[index % len(self.products)]

    @initialize(
        waiting=st.lists(
            st.tuples(st.integers(0, 1), st.integers(1, 3), st.sampled_from(CLASSES), st.booleans()),
            min_size=2,
            max_size=4,
        )
    )
    def customers_already_wait(self, waiting):
        for index, quantity, klass, hold in waiting:
            self.order([index], quantity, klass, hold)

    @rule(index=st.integers(0, 1), units=st.integers(1, 6), approve=st.booleans())
    def restock(self, index, units, approve):
        receive_stock(self.product(index).pk, units, reference="PO", approve=approve)

    @rule(
        indexes=st.lists(st.integers(0, 1), min_size=1, max_size=2, unique=True),
        quantity=st.integers(1, 3),
        klass=st.sampled_from(CLASSES),
        hold=st.booleans(),
    )
    def order(self, indexes, quantity, klass, hold):
        self.clock += timedelta(hours=1)
        n = len(self.orders)
        order = Order.objects.create(
            channel="shopify",
            external_id=f"hyp-{n}",
            number=f"#H{n}",
            placed_at=self.clock,
            customer=self.vip if klass == "vip" else None,
            express=klass == "express",
            priority_class="contract" if klass == "contract" else "",
            partial_shipment="hold" if hold else "ship_available",
        )
        lines = [
            OrderLine.objects.create(
                order=order, product=self.product(i), quantity=quantity, external_id=f"hyp-{n}-{i}"
            )
            for i in indexes
        ]
        reserve_new_lines(lines)
        self.orders.append(order.pk)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), fewer=st.integers(1, 3))
    def edit(self, data, fewer):
        """The channel lowers a line's quantity, or removes the line, through intake's one path."""
        order = Order.objects.get(pk=data.draw(st.sampled_from(self.orders)))
        line = data.draw(st.sampled_from(list(order.lines.order_by("pk"))))
        self.edits += 1
        quantity = line.quantity - fewer
        upsert_order(
            OrderFacts(
                channel=order.channel,
                external_id=order.external_id,
                number=order.number,
                placed_at=order.placed_at,
                updated_at=self.clock + timedelta(days=365, minutes=self.edits),
                lines=[
                    LineFacts(
                        line.external_id,
                        line.product.sku,
                        "Item",
                        quantity if quantity > 0 else line.quantity,
                        Decimal("10.00"),
                        removed=quantity <= 0,
                    )
                ],
            )
        )

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel(self, data):
        release_order(data.draw(st.sampled_from(self.orders)))

    @rule(index=st.integers(0, 1), level=st.integers(0, 12))
    def duplicate_count(self, index, level):
        product = self.product(index)
        apply_stock_count(product.pk, level, reference="delivery 1")
        snapshot = (
            StockAllocation.objects.count(),
            Product.objects.values_list("on_hand", "allocated").get(pk=product.pk),
        )
        again = apply_stock_count(product.pk, level, reference="delivery 1 (retry)")
        assert again.record is None
        assert snapshot == (
            StockAllocation.objects.count(),
            Product.objects.values_list("on_hand", "allocated").get(pk=product.pk),
        )

    @precondition(lambda self: StockAllocation.objects.proposed().exists())
    @rule()
    def approve_proposal(self):
        proposal = StockAllocation.objects.proposed().order_by("?").first()
        approve_allocation(proposal.pk)
        try:
            approve_allocation(proposal.pk)
        except AllocationError:
            pass
        else:
            raise AssertionError("a proposal applied twice")

    @invariant()
    def the_books_agree(self):
        """Three queries per step: the lines, the products (with trail and ATP), the plans."""
        lines = list(
            OrderLine.objects.filter(product__in=self.products).values(
                "product_id",
                "quantity",
                "allocated",
                "shipped",
                "state",
                "order__placed_at",
                "order__partial_shipment",
                "order__express",
                "order__priority_class",
                "order__customer__orders_count",
            )
        )
        trail = StockAllocation.objects.filter(product=OuterRef("pk")).order_by().values("product_id")
        products = annotate_available_to_promise(Product.objects.filter(pk__in=[p.pk for p in self.products]))
        products = products.annotate(trail=Coalesce(Subquery(trail.annotate(n=Sum("applied_units")).values("n")), 0))
        for product in products:
            mine = [line for line in lines if line["product_id"] == product.pk]
            held = sum(line["allocated"] - line["shipped"] for line in mine)
            assert 0 <= product.allocated <= product.on_hand
            assert product.allocated == held == product.trail, "allocated, lines and trail disagree"
            assert 0 <= product.available_to_promise <= product.on_hand - product.allocated
        assert all(line["allocated"] <= line["quantity"] for line in lines)
        assert not [line for line in lines if line["state"] == "cancelled" and line["allocated"] > 0]
        self.check_first_come_first_served([line for line in lines if line["state"] != "cancelled"])
        self.check_plans()

    def klass(self, row) -> str:
        return priority_of(
            self.policy.priority_classes,
            orders_count=row["order__customer__orders_count"] or 0,
            vip_min_orders=self.policy.vip_min_orders,
            priority_class=row["order__priority_class"],
            express=row["order__express"],
        )[0]

    def check_first_come_first_served(self, rows):
        """A waiting line that ships what is available is never passed by a newer line of its class."""
        for older in rows:
            if older["allocated"] == older["quantity"] or older["order__partial_shipment"] == "hold":
                continue
            for newer in rows:
                assert not (
                    newer["product_id"] == older["product_id"]
                    and newer["order__placed_at"] > older["order__placed_at"]
                    and newer["allocated"] > 0
                    and self.klass(newer) == self.klass(older)
                ), f"{newer} got units while the older {older} waits"

    def check_plans(self):
        """Plans list lines in order of service, and nobody after a line that ran short gets units."""
        checked = self.plans_checked_up_to
        for pk, plan in StockAllocation.objects.filter(pk__gt=checked).values_list("pk", "plan").order_by("pk"):
            self.plans_checked_up_to = pk
            if not plan:
                continue
            entries, classes = plan["entries"], plan["classes"]
            keys = [(classes.index(e["class"]), e["placed_at"], e["order"]) for e in entries]
            assert keys == sorted(keys)
            ran_out = False
            for entry in entries:
                if entry["hold"]:
                    continue
                assert not (ran_out and entry["give"]), "a line got units after an earlier one ran short"
                ran_out = ran_out or entry["give"] < entry["need"]


def test_allocation_keeps_its_books_under_any_sequence_of_events(db):
    run_state_machine_as_test(
        AllocationMachine, settings=settings(max_examples=30, stateful_step_count=15, deadline=None)
    )
