"""Units an order edit frees (a lower quantity, a line removed) go to the lines that wait, on the trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import F, Sum

from backorders.intake.orders import LineFacts, OrderFacts, upsert_order
from backorders.models import OrderLine, Product, StockAllocation, StorePolicy
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PLACED = datetime(2026, 9, 3, 14, 0, tzinfo=UTC)


def facts(external_id: str, quantity: int, *, minutes: int, edited: int = 0, removed: bool = False) -> OrderFacts:
    return OrderFacts(
        channel="shopify",
        external_id=external_id,
        number=f"#{external_id}",
        placed_at=PLACED + timedelta(minutes=minutes),
        updated_at=PLACED + timedelta(minutes=minutes, hours=edited),
        lines=[LineFacts(f"{external_id}-1", "EDIT-1", "Lamp", quantity, Decimal("10.00"), removed=removed)],
    )


def line_of(external_id: str) -> OrderLine:
    return OrderLine.objects.get(external_id=f"{external_id}-1")


def books(product: Product) -> tuple[int, int, int]:
    """(product.allocated, what its lines hold, what its applied trail adds up to)."""
    product.refresh_from_db()
    held = OrderLine.objects.filter(product=product).aggregate(n=Sum(F("allocated") - F("shipped")))["n"] or 0
    trail = StockAllocation.objects.filter(product=product, status="applied").aggregate(n=Sum("applied_units"))["n"]
    return product.allocated, held, trail or 0


@pytest.fixture
def store(policy):
    StorePolicy.objects.filter(pk=policy.pk).update(auto_apply_allocation=True)
    lamp = factories.ProductFactory(sku="EDIT-1", on_hand=4, allocated=0)
    upsert_order(facts("2001", 4, minutes=0))  # holds all 4
    upsert_order(facts("2002", 2, minutes=1))  # waits for 2
    upsert_order(facts("2003", 1, minutes=2))  # waits for 1, behind 2002
    assert books(lamp) == (4, 4, 4)
    return lamp


def test_lowering_a_quantity_gives_the_freed_units_to_the_lines_that_wait_first_come_first_served(store):
    upsert_order(facts("2001", 1, minutes=0, edited=1))
    assert [line_of(n).allocated for n in ("2001", "2002", "2003")] == [1, 2, 1]
    assert [line_of(n).state for n in ("2001", "2002", "2003")] == ["allocated"] * 3
    release, replan = StockAllocation.objects.filter(product=store).order_by("-pk")[:2][::-1]
    assert (release.kind, release.status, release.applied_units, release.reference) == (
        "release",
        "applied",
        -3,
        "#2001",
    )
    assert release.applied == [
        {"line": line_of("2001").pk, "order": line_of("2001").order_id, "number": "#2001", "units": -3}
    ]
    assert (replan.kind, replan.status, replan.applied_units, replan.reference) == (
        "replan",
        "applied",
        3,
        "edit of #2001",
    )
    assert books(store) == (4, 4, 4)


def test_removing_a_line_gives_its_units_back_the_same_way(store):
    upsert_order(facts("2001", 4, minutes=0, edited=1, removed=True))
    assert line_of("2001").state == "cancelled" and line_of("2001").allocated == 0
    assert [line_of(n).allocated for n in ("2002", "2003")] == [2, 1]
    assert books(store) == (3, 3, 3)


def test_freed_units_short_of_demand_are_proposed_by_the_same_rules(store):
    StorePolicy.objects.update(auto_apply_allocation=False)
    upsert_order(facts("2001", 3, minutes=0, edited=1))  # frees 1 for 3 waiting units
    proposal = StockAllocation.objects.get(product=store, status="proposed")
    assert [(e["number"], e["give"]) for e in proposal.plan["entries"]] == [("#2002", 1), ("#2003", 0)]
    assert books(store) == (3, 3, 3)


def test_a_stale_edit_frees_nothing(store):
    upsert_order(facts("2001", 1, minutes=0, edited=2))
    before = StockAllocation.objects.count()
    upsert_order(facts("2001", 4, minutes=0, edited=1))  # an older version arriving late
    assert StockAllocation.objects.count() == before
    assert books(store) == (4, 4, 4)
