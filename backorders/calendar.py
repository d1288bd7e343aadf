"""Business days in the store's calendar: working weekdays and holidays from the StorePolicy.

Pure functions over dates; the store's time zone decides which calendar day an instant falls on.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings

WEEKDAYS = (0, 1, 2, 3, 4)


class BusinessCalendar:
    def __init__(self, weekdays: Iterable[int] = WEEKDAYS, holidays: Iterable[date | str] = (), tz: str | None = None):
        self.weekdays = frozenset(weekdays) or frozenset(WEEKDAYS)
        self.holidays = frozenset(date.fromisoformat(h) if isinstance(h, str) else h for h in holidays)
        self.tz = zoneinfo.ZoneInfo(tz or settings.STORE_TIME_ZONE)

    @classmethod
    def for_policy(cls, policy) -> BusinessCalendar:
        return cls(policy.working_weekdays, policy.holidays)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def business_days_between(self, start: datetime | date, end: datetime | date) -> int:
        """Whole business days after ``start``'s day up to and including ``end``'s day.

        A scan on Friday checked on Monday is 1 business day old; checked on Friday itself, 0.
        """
        first = self.local_date(start) if isinstance(start, datetime) else start
        last = self.local_date(end) if isinstance(end, datetime) else end
        if last <= first:
            return 0
        count = 0
        day = first + timedelta(days=1)
        while day <= last:
            if self.is_business_day(day):
                count += 1
            day += timedelta(days=1)
        return count

    def add_business_days(self, start: date, days: int) -> date:
        """The date ``days`` business days after ``start`` (``start`` itself when days == 0)."""
        day = start
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        return day
