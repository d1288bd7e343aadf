"""How sure a range is, in words beside it: what it covered of the supplier's last arrivals, how
late the supplier has been lately, and why a supplier with little history gets a wider range."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from backorders.calendar import BusinessCalendar
from packets.rules import facts as f
from packets.rules.facts import PolicyFacts
from packets.rules.options import OptionInputs, build_options
from suppliers.eta import customer_range, shift_business_days
from suppliers.models import PurchaseOrder
from tests import factories

CAL = BusinessCalendar(tz="UTC")
TODAY = date(2026, 3, 2)  # a Monday


def received_history(supplier, late_days: list[int]):
    for i, late in enumerate(late_days):
        ordered = datetime(2025, 6, 2, 9, tzinfo=UTC) + timedelta(days=7 * i)
        quoted = (ordered + timedelta(days=21)).date()
        factories.PurchaseOrderFactory(
            supplier=supplier,
            status=PurchaseOrder.Status.RECEIVED,
            ordered_at=ordered,
            quoted_at=quoted,
            received_at=datetime.combine(shift_business_days(CAL, quoted, late), time(15), tzinfo=UTC),
        )


def open_order(source):
    po = factories.PurchaseOrderFactory(
        supplier=source.supplier,
        status=PurchaseOrder.Status.SENT,
        ordered_at=datetime(2026, 2, 20, tzinfo=UTC),
        quoted_at=date(2026, 3, 16),
    )
    factories.PurchaseOrderLineFactory(purchase_order=po, product=source.product)


@pytest.mark.django_db
def test_the_packet_says_how_sure_the_range_is_beside_it(policy):
    source = factories.SupplierSourceFactory(supplier=factories.SupplierFactory(name="Laggard Metalworks"))
    received_history(source.supplier, [4, 5, 6, 7, 8, 9] * 5)
    open_order(source)
    eta = customer_range(source.product, today=TODAY, policy=policy)
    assert eta.sureness.startswith("covers about ") and "of this supplier's last 24 arrivals" in eta.sureness
    assert "it has been late by 4-9 business days lately" in eta.sureness
    share = int(eta.sureness.split("covers about ")[1].split("%")[0])
    assert 85 <= share <= 100  # measured on those arrivals, not the policy's number repeated

    wait = next(
        o
        for o in build_options(
            OptionInputs(kind=f.BACKORDER, units=1, unit_price=Decimal("10"), eta=eta), PolicyFacts()
        )
        if o["action"] == f.WAIT
    )
    assert f"Honest range: {eta.start:%b %-d} to {eta.end:%b %-d}: {eta.sureness}" in wait["notes"]


@pytest.mark.django_db
def test_a_supplier_with_little_history_gets_a_wider_range_and_the_packet_says_why(policy):
    received_history(factories.SupplierFactory(name="Erratic"), [0, 8, 1, 5] * 6)
    veteran = factories.SupplierSourceFactory(supplier=factories.SupplierFactory(name="Veteran"))
    received_history(veteran.supplier, [2, 3, 2] * 10)
    sparse = factories.SupplierSourceFactory(supplier=factories.SupplierFactory(name="Sparse Studio"))
    received_history(sparse.supplier, [2, 3, 2])  # the same habit, only three deliveries of it
    open_order(sparse)
    open_order(veteran)

    thin = customer_range(sparse.product, today=TODAY, policy=policy)
    known = customer_range(veteran.product, today=TODAY, policy=policy)
    assert (thin.end - thin.start) > (known.end - known.start)
    assert thin.sureness.startswith("only 3 past deliveries from this supplier, so the range is wider")
    assert known.sureness.startswith("covers about ")


@pytest.mark.django_db
def test_a_supplier_with_no_deliveries_on_record_says_so(policy):
    received_history(factories.SupplierFactory(name="Steady"), [0, 1] * 10)
    newcomer = factories.SupplierSourceFactory(supplier=factories.SupplierFactory(name="New"))
    open_order(newcomer)
    eta = customer_range(newcomer.product, today=TODAY, policy=policy)
    assert "no deliveries from this supplier on record yet" in eta.sureness and "wider" in eta.sureness
