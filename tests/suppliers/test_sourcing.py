"""Backup sources: cost, margin, lead time, quality, and when a switch needs the customer's agreement."""

from decimal import Decimal

import pytest

from suppliers.models import SupplierUpdate
from suppliers.sourcing import compare_sources
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def kettle():
    product = factories.ProductFactory(sku="KETTLE-2L", price=Decimal("129.00"), cost=Decimal("58.00"))
    primary = factories.SupplierSourceFactory(
        product=product, role="primary", unit_cost=Decimal("58.00"), lead_time_days=10, supplier__transit_days=6
    )
    return product, primary


def test_it_puts_the_primary_first_and_prices_each_backup_against_it(kettle, policy):
    product, _ = kettle
    factories.SupplierSourceFactory(
        product=product,
        role="backup",
        unit_cost=Decimal("66.00"),
        lead_time_days=4,
        supplier__transit_days=3,
        quality_notes="Stainless handle instead of brass.",
        replacement_needs_consent=True,
    )
    rows = compare_sources(product, policy=policy)
    assert [r["role"] for r in rows] == ["primary", "backup"]
    main, backup = rows
    assert main["is_primary"] and not main["needs_consent"] and main["cost_delta"] == 0
    assert main["margin"] == Decimal("71.00") and main["total_business_days"] == 16
    assert backup["cost_delta"] == Decimal("8.00") and backup["margin"] == Decimal("63.00")
    assert backup["margin_impact"] == Decimal("-8.00") and backup["margin_pct"] == Decimal("48.8")
    assert backup["total_business_days"] == 7
    assert backup["needs_consent"] and backup["consent_reasons"][0].startswith("the goods differ")
    assert "Stainless handle" in backup["consent_reasons"][1]
    assert backup["needs_owner"] is False


def test_it_asks_for_consent_and_the_owner_when_the_backup_costs_well_above_the_boundary(kettle, policy):
    product, _ = kettle
    factories.SupplierSourceFactory(product=product, role="backup", unit_cost=Decimal("140.00"))
    backup = compare_sources(product, policy=policy)[1]
    assert backup["needs_consent"] and "above the 15.00 replacement boundary" in backup["consent_reasons"][0]
    assert backup["needs_owner"] and backup["margin"] == Decimal("-11.00")


def test_it_switches_freely_to_an_identical_cheaper_backup(kettle, policy):
    product, _ = kettle
    factories.SupplierSourceFactory(product=product, role="backup", unit_cost=Decimal("55.00"))
    backup = compare_sources(product, policy=policy)[1]
    assert not backup["needs_consent"] and not backup["needs_owner"] and backup["margin_impact"] == Decimal("3.00")


def test_it_shows_each_source_s_latest_word_on_stock(kettle, policy, django_assert_num_queries):
    product, primary = kettle
    backup = factories.SupplierSourceFactory(product=product, role="backup", unit_cost=Decimal("60.00"))
    factories.SupplierUpdateFactory(supplier=primary.supplier, product=product)
    factories.SupplierUpdateFactory(
        supplier=backup.supplier, product=product, stock_status=SupplierUpdate.StockStatus.IN_STOCK
    )
    # sources with suppliers, their latest updates
    with django_assert_num_queries(2):
        rows = compare_sources(product, policy=policy)
    assert [(r["available"], r["latest_stock_status"]) for r in rows] == [(False, "out_of_stock"), (True, "in_stock")]
