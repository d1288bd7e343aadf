"""Scorecards: on-time rate, lateness, repeat stockouts, labels left too long, silences, a weighted score."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from suppliers.charts import bar_chart, column_chart
from suppliers.models import PurchaseOrder, SupplierUpdate
from suppliers.scorecards import SCORE_WEIGHTS, scorecard
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 17, tzinfo=UTC)  # Monday noon in New York


def delivered(supplier, quoted: date, late_days: int):
    return factories.PurchaseOrderFactory(
        supplier=supplier,
        status=PurchaseOrder.Status.RECEIVED,
        ordered_at=datetime.combine(quoted - timedelta(days=14), datetime.min.time(), tzinfo=UTC),
        quoted_at=quoted,
        received_at=datetime.combine(quoted + timedelta(days=late_days), datetime.min.time(), tzinfo=UTC)
        + timedelta(hours=18),
    )


def test_it_measures_on_time_rate_and_lateness(policy):
    supplier = factories.SupplierFactory()
    for late in [0, -2, 3, 9]:
        delivered(supplier, date(2026, 2, 2), late)
    card = scorecard(supplier, policy=policy, now=NOW)
    assert (card.deliveries, card.on_time, card.on_time_rate) == (4, 2, 0.5)
    assert card.mean_lateness == 3.0  # (0 + 0 + 3 + 9) / 4: early counts as on time
    assert card.worst_lateness == 9


def test_it_counts_repeat_stockouts_per_product_and_silences(policy):
    supplier = factories.SupplierFactory()
    mug, lamp = factories.ProductFactory(), factories.ProductFactory()
    for product in [mug, mug, mug, lamp]:
        factories.SupplierUpdateFactory(supplier=supplier, product=product, received_at=NOW - timedelta(days=3))
    factories.SupplierUpdateFactory(
        supplier=supplier, product=None, kind=SupplierUpdate.Kind.SILENCE, received_at=NOW - timedelta(days=10)
    )
    factories.SupplierUpdateFactory(
        supplier=supplier, product=None, kind=SupplierUpdate.Kind.SILENCE, received_at=NOW - timedelta(days=200)
    )
    card = scorecard(supplier, policy=policy, now=NOW)
    assert card.out_of_stock_updates == {mug.pk: 3, lamp.pk: 1}
    assert card.repeat_stockouts == 1
    assert (card.silences, card.recent_silences) == (2, 1)


def test_it_counts_drop_ship_labels_left_without_a_pickup_too_long(policy):
    supplier = factories.SupplierFactory(name="Copperline Goods")
    dropship = {"shipped_by": "supplier", "supplier_name": "Copperline Goods"}
    # 4 business days is the policy's window; Monday Mar 2 minus 8 days is Friday Feb 21 (6 business days)
    factories.ShipmentFactory(label_created_at=NOW - timedelta(days=9), status="label_created", **dropship)
    factories.ShipmentFactory(label_created_at=NOW - timedelta(days=1), status="label_created", **dropship)
    factories.ShipmentFactory(
        label_created_at=NOW - timedelta(days=20),
        first_scan_at=NOW - timedelta(days=10),
        last_scan_at=NOW - timedelta(days=9),
        status="delivered",
        **dropship,
    )
    factories.ShipmentFactory(label_created_at=NOW - timedelta(days=9), status="label_created")  # the store's own
    card = scorecard(supplier, policy=policy, now=NOW)
    assert (card.dropships, card.label_too_long) == (3, 2)


def test_it_weighs_the_score_and_leaves_out_measures_without_data(policy):
    supplier = factories.SupplierFactory()
    fresh = scorecard(supplier, policy=policy, now=NOW)
    assert fresh.score == 100.0 and set(fresh.components) == {"stockouts", "silence"}
    for late in [0, 0, 10, 10]:
        delivered(supplier, date(2026, 2, 2), late)
    card = scorecard(supplier, policy=policy, now=NOW)
    # on time 0.5 x 40, lateness (1 - 5/10) x 20, stockouts 15, silence 10 over 85
    expected = 100 * (0.5 * 40 + 0.5 * 20 + 15 + 10) / (85)
    assert card.score == pytest.approx(round(expected, 1))
    assert sum(SCORE_WEIGHTS.values()) == 100 and card.should_deprioritise is False


@time_machine.travel(NOW, tick=False)
def test_it_draws_a_monthly_trend(policy):
    supplier = factories.SupplierFactory()
    delivered(supplier, date(2026, 1, 12), 0)
    delivered(supplier, date(2026, 1, 19), 4)
    card = scorecard(supplier, policy=policy)
    january = next(m for m in card.trend if m.month == date(2026, 1, 1))
    assert (january.deliveries, january.on_time_rate, january.mean_lateness) == (2, 0.5, 2.0)
    assert len(card.trend) == 12 and card.trend[-1].month == date(2026, 3, 1)


def test_charts_are_inline_svg_with_escaped_labels():
    svg = bar_chart([("<script>x</script>", 3), ("Harbor", 7)], title="Units & more", unit=" units")
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    assert "Units &amp; more" in svg and "7 units" in svg
    columns = column_chart([("Jan", 50.0), ("Feb", None)], title="On time", unit="%", max_value=100)
    assert columns.count("<rect") == 1 and "Jan: 50%" in columns
