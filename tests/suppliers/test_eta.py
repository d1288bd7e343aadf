"""ETA ranges: lateness quantiles per supplier, recent history first, shrunk toward all suppliers."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from backorders.calendar import BusinessCalendar
from suppliers.eta import Arrival, LatenessModel, customer_range, customer_ranges, shift_business_days
from suppliers.models import PurchaseOrder, SupplierUpdate
from tests import factories

CAL = BusinessCalendar(tz="UTC")
TODAY = date(2026, 3, 2)  # a Monday


def arrival(supplier_id, quoted: date, late_business_days: int, *, lead=15) -> Arrival:
    received = shift_business_days(CAL, quoted, late_business_days)
    ordered = quoted - timedelta(days=lead)
    return Arrival(
        supplier_id=supplier_id,
        ordered_at=datetime.combine(ordered, time(9), tzinfo=UTC),
        quoted=quoted,
        received_at=datetime.combine(received, time(15), tzinfo=UTC),
        received=received,
    )


def history(supplier_id, lateness: list[int], *, end=TODAY) -> list[Arrival]:
    """One arrival a week, the last one a week before ``end``."""
    n = len(lateness)
    return [arrival(supplier_id, end - timedelta(days=7 * (n - i)), late) for i, late in enumerate(lateness, start=0)]


def test_it_puts_a_reliably_late_supplier_s_range_after_the_quote():
    model = LatenessModel(history(1, [5] * 30), as_of=TODAY, calendar=CAL)
    bounds = model.interval(1, 0.9, lead_days=15)
    assert (bounds.low, bounds.high) == (5, 5)


def test_it_shrinks_a_supplier_with_little_history_toward_all_suppliers():
    others = history(2, [0] * 40) + history(3, [0] * 40) + history(4, [0] * 40)
    newcomer = history(1, [10])
    model = LatenessModel(others + newcomer, as_of=TODAY, calendar=CAL)
    bounds = model.interval(1, 0.9, lead_days=15)
    assert 0 < bounds.high < 10  # neither its one late delivery nor everyone else's punctuality alone
    veteran = LatenessModel(others + history(1, [10] * 40), as_of=TODAY, calendar=CAL).interval(1, 0.9, lead_days=15)
    assert veteran.high >= 10 > bounds.high


def test_it_follows_a_supplier_whose_lateness_has_changed():
    improving = history(1, [12] * 20 + [0] * 20)
    worsening = history(1, [0] * 20 + [12] * 20)
    better = LatenessModel(improving, as_of=TODAY, calendar=CAL).interval(1, 0.9, lead_days=15)
    worse = LatenessModel(worsening, as_of=TODAY, calendar=CAL).interval(1, 0.9, lead_days=15)
    assert better.low <= 0 <= better.high < 12 <= worse.high
    assert better.high <= worse.high and better.low < worse.low


def test_it_uses_only_the_overdue_tail_once_the_quote_has_passed():
    model = LatenessModel(history(1, [0] * 20 + [6] * 5), as_of=TODAY, calendar=CAL)
    assert model.interval(1, 0.9, lead_days=15, later_than=2).low >= 3


def test_it_gives_a_default_spread_with_no_history_at_all():
    bounds = LatenessModel([], as_of=TODAY, calendar=CAL).interval(1, 0.9, lead_days=28)
    assert bounds.low == 0 and bounds.high >= 2 and "no arrival history" in bounds.basis


@pytest.mark.django_db
class TestCustomerRange:
    def source(self, **supplier):
        supplier = factories.SupplierFactory(transit_days=3, **supplier)
        return factories.SupplierSourceFactory(supplier=supplier, lead_time_days=10)

    def received_history(self, supplier, late_days: list[int]):
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

    def assert_business_range(self, eta, calendar):
        assert eta.start < eta.end
        assert calendar.is_business_day(eta.start) and calendar.is_business_day(eta.end)

    def test_it_ranges_around_an_open_purchase_order_s_quote(self, policy):
        source = self.source()
        self.received_history(source.supplier, [2] * 20)
        po = factories.PurchaseOrderFactory(
            supplier=source.supplier,
            status=PurchaseOrder.Status.SENT,
            ordered_at=datetime(2026, 2, 20, tzinfo=UTC),
            quoted_at=date(2026, 3, 16),
        )
        factories.PurchaseOrderLineFactory(purchase_order=po, product=source.product)
        eta = customer_range(source.product, today=TODAY, policy=policy)
        assert eta.start == date(2026, 3, 18) and eta.end == date(2026, 3, 19)  # two business days late, always
        assert eta.coverage == pytest.approx(0.9) and po.reference in eta.basis
        assert not eta.rolling, "a quoted date does not move with the calendar"
        self.assert_business_range(eta, BusinessCalendar.for_policy(policy))

    def test_it_counts_lead_time_and_transit_from_today_without_a_purchase_order(self, policy):
        source = self.source()
        self.received_history(source.supplier, [0] * 20)
        eta = customer_range(source.product, today=TODAY, policy=policy)
        calendar = BusinessCalendar.for_policy(policy)
        assert eta.start >= calendar.add_business_days(TODAY, 13)  # 10 lead + 3 transit
        assert "lead time" in eta.basis and "3 in transit" in eta.basis
        assert eta.rolling, "counted from today, it moves every day"
        self.assert_business_range(eta, calendar)

    def test_it_uses_the_supplier_s_restock_window_plus_transit(self, policy):
        source = self.source()
        factories.SupplierUpdateFactory(
            supplier=source.supplier,
            product=source.product,
            kind=SupplierUpdate.Kind.RESTOCK_ESTIMATE,
            restock_from=date(2026, 3, 9),
            restock_to=date(2026, 3, 13),
            strength=SupplierUpdate.Strength.WEAK,
        )
        eta = customer_range(source.product, today=TODAY, policy=policy)
        assert eta.start >= date(2026, 3, 12) and eta.end >= date(2026, 3, 18)
        assert "weak restock window" in eta.basis and not eta.rolling

    @pytest.mark.parametrize(
        ("status", "restock"),
        [
            (SupplierUpdate.StockStatus.DISCONTINUED, None),
            (SupplierUpdate.StockStatus.VARIANT_MISSING, None),
            (SupplierUpdate.StockStatus.OUT_OF_STOCK, None),
        ],
    )
    def test_it_gives_no_range_when_no_date_is_known(self, policy, status, restock):
        source = self.source()
        factories.SupplierUpdateFactory(supplier=source.supplier, product=source.product, stock_status=status)
        assert customer_range(source.product, today=TODAY, policy=policy) is None

    def test_it_gives_no_range_without_a_primary_source(self, policy):
        assert customer_range(factories.ProductFactory(), today=TODAY, policy=policy) is None

    @pytest.mark.parametrize("products", [1, 8])
    def test_it_ranges_many_products_in_a_fixed_number_of_queries(self, policy, django_assert_num_queries, products):
        sources = [self.source() for _ in range(products)]
        for source in sources:
            self.received_history(source.supplier, [1, 2])
        # primary sources with suppliers, open purchase-order lines, supplier updates, received history
        with django_assert_num_queries(4):
            ranges = customer_ranges([s.product for s in sources], today=TODAY, policy=policy)
        assert all(r.start < r.end for r in ranges.values())
