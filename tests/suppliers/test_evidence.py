"""Supplier evidence: realistic supplier emails and notes, read into kind, dates, status and strength."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from suppliers.dates import find_dates
from suppliers.evidence import read_evidence, record_update
from suppliers.models import SupplierUpdate
from tests import factories

Kind = SupplierUpdate.Kind
Stock = SupplierUpdate.StockStatus
Strength = SupplierUpdate.Strength

MONDAY = date(2026, 3, 2)  # received on Monday 2 March 2026

EMAILS = [
    # (name, text, kind, stock status, strength, restock_from, restock_to)
    (
        "firm restock with a PO reference",
        "Hi Olivia,\n\nThe 2L copper kettles are out of stock right now. Our next production run lands on "
        "March 20, 2026 and your PO-4471 is allocated to it.\n\nBest, Marta",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.CONFIRMED,
        date(2026, 3, 20),
        date(2026, 3, 20),
    ),
    (
        "a couple of weeks, hedged",
        "Rust linen should be back in a couple of weeks, maybe three. Will confirm when the bolt arrives.",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.WEAK,
        date(2026, 3, 14),
        date(2026, 3, 18),
    ),
    (
        "relative weeks range",
        "Sorry for the wait! Mugs are backordered, we expect them in 2-3 weeks.",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.WEAK,
        date(2026, 3, 16),
        date(2026, 3, 23),
    ),
    (
        "next Friday, in writing",
        "Planters are sold out. New stock is due next Friday and we will ship your order the same day.",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.CONFIRMED,
        date(2026, 3, 13),
        date(2026, 3, 13),
    ),
    (
        "end of the month, hopefully",
        "Hopefully we'll have the skillets back by the end of the month.",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.WEAK,
        date(2026, 3, 25),
        date(2026, 3, 31),
    ),
    (
        "out of stock, no date",
        "Sorry, black lamps are backordered until the next container. No date yet.",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.WEAK,
        None,
        None,
    ),
    (
        "discontinued",
        "Please note the large pendant shade is discontinued. Medium remains available.",
        Kind.STOCK_STATUS,
        Stock.DISCONTINUED,
        Strength.CONFIRMED,
        None,
        None,
    ),
    (
        "variant missing",
        "The sage glaze has been retired from our line; we can offer charcoal or blue instead.",
        Kind.STOCK_STATUS,
        Stock.VARIANT_MISSING,
        Strength.CONFIRMED,
        None,
        None,
    ),
    (
        "phone call, in stock",
        "Phone: black desk lamps are in stock, will ship this week.",
        Kind.DISPATCH_CLAIM,
        Stock.IN_STOCK,
        Strength.WEAK,
        None,
        None,
    ),
    (
        "dispatch claim without tracking",
        "Pour-over sets went out on Monday.",
        Kind.DISPATCH_CLAIM,
        Stock.IN_STOCK,
        Strength.WEAK,
        None,
        None,
    ),
    (
        "dispatch with tracking",
        "Good news: your order shipped today via FedEx, tracking number 612999AA10NYC. Invoice attached.",
        Kind.DISPATCH_CLAIM,
        Stock.IN_STOCK,
        Strength.CONFIRMED,
        None,
        None,
    ),
    (
        "pickup proof",
        "Picked up by UPS this morning, tracking 1ZALPINE0000042, 60 units.",
        Kind.PICKUP_PROOF,
        Stock.IN_STOCK,
        Strength.CONFIRMED,
        None,
        None,
    ),
    (
        "written in stock, nothing to check",
        "Yes, we have plenty of the walnut boards.",
        Kind.STOCK_STATUS,
        Stock.IN_STOCK,
        Strength.WEAK,
        None,
        None,
    ),
    (
        "absolute date, day first",
        "Thermos 750 ml: out of stock. Restock confirmed for 16th of March, order confirmation #88123.",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.CONFIRMED,
        date(2026, 3, 16),
        date(2026, 3, 16),
    ),
    (
        "numeric US date",
        "Candles are out of stock until 3/27, per our warehouse.",
        Kind.RESTOCK_ESTIMATE,
        Stock.OUT_OF_STOCK,
        Strength.CONFIRMED,
        date(2026, 3, 27),
        date(2026, 3, 27),
    ),
]


@pytest.mark.parametrize(
    ("text", "kind", "status", "strength", "restock_from", "restock_to"),
    [case[1:] for case in EMAILS],
    ids=[case[0] for case in EMAILS],
)
def test_it_reads_realistic_supplier_emails(text, kind, status, strength, restock_from, restock_to):
    reading = read_evidence(text, MONDAY)
    assert (reading.kind, reading.stock_status, reading.strength) == (kind, status, strength), reading.reasons
    assert (reading.restock_from, reading.restock_to) == (restock_from, restock_to)
    assert reading.reasons


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("on 2026-04-02", date(2026, 4, 2), date(2026, 4, 2)),
        ("March 14, 2026", date(2026, 3, 14), date(2026, 3, 14)),
        ("14 March", date(2026, 3, 14), date(2026, 3, 14)),
        ("12.03.2026", date(2026, 3, 12), date(2026, 3, 12)),
        ("tomorrow", date(2026, 3, 3), date(2026, 3, 3)),
        ("in two weeks", date(2026, 3, 14), date(2026, 3, 18)),
        ("next Friday", date(2026, 3, 13), date(2026, 3, 13)),
        ("this Friday", date(2026, 3, 6), date(2026, 3, 6)),
        ("end of the month", date(2026, 3, 25), date(2026, 3, 31)),
        ("end of next month", date(2026, 4, 24), date(2026, 4, 30)),
        ("next week", date(2026, 3, 9), date(2026, 3, 13)),
        ("within 10 days", date(2026, 3, 2), date(2026, 3, 12)),
        ("February 20", date(2026, 2, 20), date(2026, 2, 20)),
        ("on the 28th of next month", date(2026, 4, 28), date(2026, 4, 28)),
        ("the 15th of this month", date(2026, 3, 15), date(2026, 3, 15)),
        ("late April", date(2026, 4, 20), date(2026, 4, 30)),
        ("December 10", date(2026, 12, 10), date(2026, 12, 10)),
    ],
)
def test_it_resolves_dates_against_the_received_day(phrase, start, end):
    mentions = find_dates(f"Expected {phrase}.", MONDAY)
    assert [(m.start, m.end) for m in mentions] == [(start, end)]


def test_it_ignores_words_that_only_look_like_dates():
    assert find_dates("You may call us once a week; we ship 2 boxes.", MONDAY) == []


def test_it_reads_a_past_weekday_in_a_dispatch_claim_as_the_one_just_gone():
    reading = read_evidence("Pour-over sets went out on Friday.", MONDAY)
    assert reading.dispatched_on == date(2026, 2, 27)


@pytest.mark.django_db
class TestRecordUpdate:
    received = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

    def test_it_stores_the_update_with_its_dates_and_source_text(self, owner):
        source = factories.SupplierSourceFactory()
        update = record_update(
            source.supplier,
            EMAILS[0][1],
            product=source.product,
            user=owner,
            received_at=self.received,
        )
        update.refresh_from_db()
        assert update.kind == Kind.RESTOCK_ESTIMATE and update.strength == Strength.CONFIRMED
        assert update.restock_from == update.restock_to == date(2026, 3, 20)
        assert update.dates_found[0]["from"] == "2026-03-20" and update.dates_found[0]["text"] == "March 20, 2026"
        assert update.source_text.startswith("Hi Olivia") and update.recorded_by == owner
        assert "PO-4471" in update.strength_reason

    def test_it_marks_in_stock_then_out_of_stock_as_conflicting(self):
        source = factories.SupplierSourceFactory()
        first = record_update(
            source.supplier,
            "Phone: black desk lamps are in stock, will ship this week.",
            product=source.product,
            received_at=self.received - timedelta(days=4),
        )
        second = record_update(
            source.supplier,
            "Sorry, black lamps are backordered until the next container. No date yet.",
            product=source.product,
            received_at=self.received,
        )
        assert second.strength == Strength.CONFLICTING and second.conflicts_with == first
        assert "contradicting" in second.strength_reason

    def test_it_marks_a_moved_restock_window_as_conflicting(self):
        source = factories.SupplierSourceFactory()
        first = record_update(
            source.supplier, "Out of stock, back on March 10, 2026.", product=source.product, received_at=self.received
        )
        second = record_update(
            source.supplier,
            "Out of stock; the new date is April 7, 2026.",
            product=source.product,
            received_at=self.received + timedelta(days=1),
        )
        assert second.strength == Strength.CONFLICTING and second.conflicts_with == first
        assert "moves the restock window" in second.strength_reason

    def test_it_accepts_a_restock_after_the_date_it_was_promised(self):
        source = factories.SupplierSourceFactory()
        record_update(source.supplier, "Out of stock until 3/10.", product=source.product, received_at=self.received)
        later = record_update(
            source.supplier,
            "Back in stock and ready to ship, order confirmation #5521.",
            product=source.product,
            received_at=self.received + timedelta(days=9),
        )
        assert later.strength == Strength.CONFIRMED and later.conflicts_with is None

    def test_it_compares_only_with_the_same_product(self):
        source = factories.SupplierSourceFactory()
        other = factories.SupplierSourceFactory(supplier=source.supplier)
        record_update(source.supplier, "Lamps are in stock.", product=source.product, received_at=self.received)
        update = record_update(
            source.supplier, "Sold out of shades.", product=other.product, received_at=self.received + timedelta(1)
        )
        assert update.strength == Strength.CONFIRMED and update.conflicts_with is None

    def test_it_finds_the_product_when_the_words_name_its_sku(self):
        source = factories.SupplierSourceFactory(supplier_sku="NW-MUG-77")
        update = record_update(source.supplier, "NW-MUG-77 is sold out.", received_at=self.received)
        assert update.product == source.product

    @pytest.mark.parametrize("text", ["", "   \n  ", "x" * 20_001])
    def test_it_refuses_empty_or_oversized_text_and_writes_nothing(self, text):
        supplier = factories.SupplierFactory()
        with pytest.raises(ValidationError):
            record_update(supplier, text)
        assert SupplierUpdate.objects.count() == 0
