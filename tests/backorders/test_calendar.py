from datetime import UTC, date, datetime

import pytest

from backorders.calendar import BusinessCalendar

cal = BusinessCalendar(holidays=["2026-11-26"], tz="America/New_York")  # Thanksgiving


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 11, 20), date(2026, 11, 20), 0),  # same Friday
        (date(2026, 11, 20), date(2026, 11, 23), 1),  # Friday -> Monday: the weekend does not count
        (date(2026, 11, 20), date(2026, 11, 22), 0),  # Friday -> Sunday
        (date(2026, 11, 25), date(2026, 11, 27), 1),  # Wednesday -> Friday across Thanksgiving
        (date(2026, 11, 16), date(2026, 11, 20), 4),
    ],
)
def test_it_counts_business_days_between_two_days(start, end, expected):
    assert cal.business_days_between(start, end) == expected


def test_it_uses_the_store_time_zone_to_decide_the_day():
    # 03:00 UTC on Saturday is still Friday evening in New York
    friday_night = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert cal.local_date(friday_night) == date(2026, 11, 20)
    assert cal.business_days_between(friday_night, date(2026, 11, 23)) == 1


def test_it_adds_business_days_skipping_weekends_and_holidays():
    assert cal.add_business_days(date(2026, 11, 25), 1) == date(2026, 11, 27)
    assert cal.add_business_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    assert cal.add_business_days(date(2026, 11, 27), 0) == date(2026, 11, 27)
