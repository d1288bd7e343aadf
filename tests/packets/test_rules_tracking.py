"""The stale-tracking clocks, table by table: every category, and the boundaries of each window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backorders.calendar import BusinessCalendar
from packets.rules.facts import PolicyFacts, ScanFacts, ShipmentFacts
from packets.rules.tracking import classify_tracking, postal_codes_differ

CAL = BusinessCalendar(holidays=["2026-11-26"], tz="America/New_York")  # Thanksgiving
POLICY = PolicyFacts()
# Noon in New York on each day, so the store's calendar day is unambiguous.
WED_18 = datetime(2026, 11, 18, 17, tzinfo=UTC)


def day(d: int) -> datetime:
    return datetime(2026, 11, d, 17, tzinfo=UTC)


def label_only(created: datetime, **extra) -> ShipmentFacts:
    return ShipmentFacts(
        id=1,
        status="label_created",
        label_created_at=created,
        events=(ScanFacts(created, "label_created", "InfoReceived"),),
        **extra,
    )


def moving(status: str, last: datetime, *, location="Reno, NV", **extra) -> ShipmentFacts:
    first = last - timedelta(days=1)
    return ShipmentFacts(
        id=2,
        status=status,
        label_created_at=first - timedelta(hours=3),
        events=(
            ScanFacts(first - timedelta(hours=3), "label_created", "InfoReceived"),
            ScanFacts(first, "accepted", "PickedUp", "Portland, OR"),
            ScanFacts(last, status, status, location),
        )
        if status != "accepted"
        else (
            ScanFacts(first - timedelta(hours=3), "label_created", "InfoReceived"),
            ScanFacts(last, "accepted", "PickedUp", location),
        ),
        order_city="Portland",
        **extra,
    )


def classify(shipment, now=WED_18, policy=POLICY):
    return classify_tracking(shipment, now=now, calendar=CAL, policy=policy)


@pytest.mark.parametrize(
    ("created", "now", "expected"),
    [
        (day(13), day(18), None),  # Fri -> Wed: Mon, Tue, Wed = 3 business days
        (day(12), day(18), "label_created_only"),  # Thu -> Wed: Fri, Mon, Tue, Wed = 4
        (day(13), day(19), "label_created_only"),  # Fri -> Thu = 4
        (day(16), day(19), None),  # Mon -> Thu = 3
        (day(13), day(16), None),  # Fri -> Mon: the weekend does not count (1)
        (day(14), day(20), "label_created_only"),  # Sat -> Fri: Mon..Fri = 5
    ],
)
def test_it_fires_the_pickup_clock_on_business_day_four(created, now, expected):
    assert classify(label_only(created), now=now).category == expected


def test_day_three_is_watch_and_day_four_is_a_case():
    monday = day(16)
    assert classify(label_only(monday), now=day(19)).category is None  # Tue, Wed, Thu = 3
    assert classify(label_only(monday), now=day(20)).category == "label_created_only"  # + Fri = 4


def test_a_holiday_in_the_policy_does_not_count():
    monday = day(23)
    # Tue 24, Wed 25, (Thu 26 Thanksgiving), Fri 27 = 3 business days: still watch
    assert classify(label_only(monday), now=day(27)).category is None
    without_holiday = BusinessCalendar(tz="America/New_York")
    verdict = classify_tracking(label_only(monday), now=day(27), calendar=without_holiday, policy=POLICY)
    assert verdict.category == "label_created_only"


def test_a_drop_shipped_parcel_never_picked_up_is_supplier_silence():
    verdict = classify(label_only(day(9), shipped_by="supplier", supplier_name="Copperline Goods"))
    assert verdict.category == "supplier_silence"
    assert any("Copperline Goods" in gap for gap in verdict.gaps)


@pytest.mark.parametrize(
    ("status", "last", "international", "expected"),
    [
        ("accepted", day(13), False, "accepted_no_movement"),  # Fri -> Wed = 3
        ("accepted", day(16), False, None),  # Mon -> Wed = 2
        ("in_transit", day(13), False, "stale_in_transit"),
        ("in_transit", day(16), False, None),
        ("out_for_delivery", day(12), False, "stale_in_transit"),
        ("in_transit", day(13), True, None),  # international: 5 business days
        ("in_transit", day(11), True, "stale_in_transit"),  # Wed 11 -> Wed 18 = 5
        ("in_transit", day(12), True, None),  # Thu 12 -> Wed 18 = 4
    ],
)
def test_it_measures_silence_after_a_scan_domestic_and_international(status, last, international, expected):
    assert classify(moving(status, last, international=international)).category == expected


def test_it_counts_business_days_across_a_weekend():
    friday_scan = moving("in_transit", day(13))
    assert classify(friday_scan, now=day(17)).category is None  # Mon, Tue = 2
    assert classify(friday_scan, now=day(18)).business_days_since_last_scan == 3


@pytest.mark.parametrize(("status",), [("exception",), ("returned",)])
def test_a_carrier_exception_is_a_case_at_once(status):
    verdict = classify(moving(status, day(17)))
    assert verdict.category == "carrier_exception"


def test_delivered_is_done_unless_the_customer_says_it_never_came():
    delivered = moving("delivered", day(16), location="Portland, OR", delivered_at=day(16))
    assert classify(delivered).category is None
    conflict = moving(
        "delivered", day(16), location="Portland, OR", delivered_at=day(16), not_received_claimed_at=day(17)
    )
    verdict = classify(conflict)
    assert verdict.category == "delivered_conflict"
    assert "never arrived" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"destination_postal_code": "33101", "order_postal_code": "97205"}, "Portland, OR"),
        ({}, "Miami, FL"),  # delivered in another city
    ],
)
def test_tracking_that_leads_elsewhere_is_wrong_tracking(fields, location):
    shipment = moving("delivered", day(16), location=location, delivered_at=day(16), **fields)
    assert classify(shipment).category == "wrong_tracking"


def test_postal_codes_compare_without_zip_plus_four_or_spacing():
    assert not postal_codes_differ("97205-1234", "97205")
    assert not postal_codes_differ("M5V 2T6", "m5v2t6")
    assert not postal_codes_differ("", "97205")
    assert postal_codes_differ("33101", "97205")


def test_no_tracking_data_for_thirty_calendar_days_is_expired():
    created = WED_18 - timedelta(days=30)
    bare = ShipmentFacts(id=3, status="label_created", label_created_at=created)
    assert classify(bare).category == "expired_tracking"
    younger = ShipmentFacts(id=3, status="label_created", label_created_at=created + timedelta(days=1))
    assert classify(younger).category == "label_created_only"  # no pickup, but not yet expired


def test_an_unknown_status_is_unclear():
    shipment = moving("unknown", day(17))
    verdict = classify(shipment)
    assert verdict.category == "unclear" and verdict.gaps


def test_the_reasons_carry_dates_not_counters_so_they_do_not_tick():
    today = classify(label_only(day(9)), now=day(18))
    tomorrow = classify(label_only(day(9)), now=day(19))
    assert today.reasons == tomorrow.reasons and today.gaps == tomorrow.gaps
    assert today.tracking_age_days != tomorrow.tracking_age_days
