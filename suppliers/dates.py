"""Dates in a supplier's words: absolute dates and relative phrases, resolved against a received day.

``find_dates(text, received)`` returns every mention it understands, in the order they appear,
each as a window of days (``start`` .. ``end``): "March 14" is a one-day window, "next week" or
"in two to three weeks" a wider one. ``exact`` says whether the mention names one day (a date
or "next Friday") rather than a vague stretch ("end of the month", "a couple of weeks").
Pure functions: no database, no clock.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {
    name: number
    for number in range(1, 13)
    for name in {calendar.month_name[number].lower(), calendar.month_abbr[number].lower()}
}
MONTHS["sept"] = 9
WEEKDAYS = {calendar.day_name[n].lower(): n for n in range(7)} | {calendar.day_abbr[n].lower(): n for n in range(7)}
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "a few": 3,
    "few": 3,
    "several": 4,
}
VAGUE_COUNTS = {"a couple of", "a couple", "couple of", "a few", "few", "several"}
UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30}

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?P<weekday>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")\.?"
_COUNT = r"(?P<count>\d{1,3}|" + "|".join(re.escape(w) for w in sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_COUNT2 = r"(?P<count2>\d{1,3}|" + "|".join(re.escape(w) for w in sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_UNIT = r"(?P<unit>days?|weeks?|months?)"


@dataclass(frozen=True)
class DateMention:
    text: str
    start: date
    end: date
    exact: bool
    relative: bool
    position: int = 0

    def as_json(self) -> dict:
        return {
            "text": self.text,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "exact": self.exact,
            "relative": self.relative,
        }


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year_for(month: int, day: int, received: date) -> date | None:
    """A date written without a year: the nearest one that is not long past (suppliers talk ahead)."""
    candidate = _safe_date(received.year, month, day)
    if candidate is None:
        return None
    if candidate < received - timedelta(days=60):
        return _safe_date(received.year + 1, month, day)
    return candidate


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _count(word: str) -> int:
    word = word.lower().strip()
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def _four_digit(year: str) -> int:
    value = int(year)
    return value + 2000 if value < 100 else value


# Each rule: a compiled pattern and a resolver (match, received, past) -> (start, end, exact) | None.
_RULES: list[tuple[re.Pattern, object, bool]] = []


def _rule(pattern: str, *, relative: bool):
    def register(resolver):
        _RULES.append((re.compile(pattern, re.IGNORECASE), resolver, relative))
        return resolver

    return register


@_rule(r"\b(?P<y>20\d\d)-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b", relative=False)
def _iso(m, received, past):
    day = _safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
    return (day, day, True) if day else None


@_rule(r"\b(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{2}|\d{4}))?\b", relative=False)
def _us_numeric(m, received, past):
    month, day_of_month = int(m["m"]), int(m["d"])
    day = _safe_date(_four_digit(m["y"]), month, day_of_month) if m["y"] else _year_for(month, day_of_month, received)
    return (day, day, True) if day else None


@_rule(r"\b(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})\b", relative=False)
def _european_numeric(m, received, past):
    day = _safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
    return (day, day, True) if day else None


@_rule(
    r"\b(?:(?P<part>early|mid|late|end of|beginning of|start of)[\s-]+)?"
    + _MONTH
    + r"(?:\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?)?(?:,?\s+(?P<y>20\d\d))?\b",
    relative=False,
)
def _month_name_first(m, received, past):
    month = MONTHS[m["month"].lower()]
    if m["month"].lower() == "may" and not (m["d"] or m["part"] or m["y"]):
        return None  # "may" is far more often the verb
    if m["d"] and not m["part"]:
        year = int(m["y"]) if m["y"] else None
        day = _safe_date(year, month, int(m["d"])) if year else _year_for(month, int(m["d"]), received)
        return (day, day, True) if day else None
    year = int(m["y"]) if m["y"] else _year_for(month, 1, received + timedelta(days=31)).year
    first, last = date(year, month, 1), _month_end(year, month)
    part = (m["part"] or "").lower()
    if part == "early" or (part.endswith("of") and part != "end of"):
        return first, date(year, month, 10), False
    if part == "mid":
        return date(year, month, 10), date(year, month, 20), False
    if part in {"late", "end of"}:
        return date(year, month, 20), last, False
    return first, last, False


@_rule(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+" + _MONTH + r"(?:,?\s+(?P<y>20\d\d))?\b", relative=False)
def _day_first(m, received, past):
    month = MONTHS[m["month"].lower()]
    day = _safe_date(int(m["y"]), month, int(m["d"])) if m["y"] else _year_for(month, int(m["d"]), received)
    return (day, day, True) if day else None


@_rule(r"\b(?P<word>today|tomorrow|this morning|this afternoon|tonight|yesterday)\b", relative=True)
def _named_day(m, received, past):
    offset = {"tomorrow": 1, "yesterday": -1}.get(m["word"].lower(), 0)
    day = received + timedelta(days=offset)
    return day, day, True


@_rule(r"\b(?P<which>next|this|on|by|last|coming|until|till)\s+" + _WEEKDAY, relative=True)
def _weekday(m, received, past):
    target = WEEKDAYS[m["weekday"].lower()]
    which = m["which"].lower()
    ahead = (target - received.weekday()) % 7
    if which == "last":
        back = (received.weekday() - target) % 7 or 7
        day = received - timedelta(days=back)
    elif which == "next":
        # "next Friday" said on a Monday means the Friday of next week, not in four days' time.
        day = received + timedelta(days=ahead or 7)
        if ahead and received.weekday() < target:
            day += timedelta(days=7)
    elif past and which in {"on", "this"}:
        day = received - timedelta(days=(received.weekday() - target) % 7)
    else:
        day = received + timedelta(days=ahead)
    return day, day, True


@_rule(
    r"\b(?:by\s+|at\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?(?P<which>this\s+|next\s+)?(?P<unit>month|week)\b",
    relative=True,
)
def _end_of(m, received, past):
    nxt = (m["which"] or "").strip().lower() == "next"
    if m["unit"].lower() == "month":
        anchor = _add_months(received.replace(day=1), 1 if nxt else 0)
        last = _month_end(anchor.year, anchor.month)
        return max(received, last - timedelta(days=6)), last, False
    friday = received + timedelta(days=(4 - received.weekday()) % 7 + (7 if nxt else 0))
    return max(received, friday - timedelta(days=2)), friday, False


@_rule(
    r"\b(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)\s+of\s+(?P<which>this|next|the)\s+(?:following\s+)?month\b",
    relative=True,
)
def _day_of_month(m, received, past):
    months_ahead = 1 if m["which"].lower() == "next" or "following" in m.group(0).lower() else 0
    anchor = _add_months(received.replace(day=1), months_ahead)
    day = _safe_date(anchor.year, anchor.month, int(m["d"]))
    return (day, day, True) if day else None


@_rule(r"\bnext\s+(?P<unit>week|month)\b", relative=True)
def _next_unit(m, received, past):
    if m["unit"].lower() == "week":
        monday = received + timedelta(days=7 - received.weekday())
        return monday, monday + timedelta(days=4), False
    first = _add_months(received.replace(day=1), 1)
    return first, _month_end(first.year, first.month), False


@_rule(
    r"\b(?P<lead>in|within|another|about|around|roughly|approx\.?|approximately)?\s*(?:the\s+next\s+)?"
    + _COUNT
    + r"(?:\s*(?:-|–|to|or)\s*"
    + _COUNT2
    + r")?\s+"
    + _UNIT
    + r"(?:\s+(?:time|from now|out))?\b",
    relative=True,
)
def _span(m, received, past):
    lead = (m["lead"] or "").lower()
    count_word = m["count"].lower()
    low = _count(count_word)
    high = _count(m["count2"]) if m["count2"] else low
    if high < low:
        return None
    unit = UNIT_DAYS[m["unit"].lower()]
    vague = count_word in VAGUE_COUNTS or high != low
    if lead == "within":
        return received, received + timedelta(days=high * unit), False
    if not lead and not m["count2"] and count_word in {"a", "an", "one"}:
        return None  # "a week" alone ("once a week") is not a date
    start = received + timedelta(days=low * unit)
    end = received + timedelta(days=high * unit)
    if unit > 1 and start == end:
        # "in two weeks" is a stretch, not a day: the working week around it.
        start, end = start - timedelta(days=2), start + timedelta(days=2)
        vague = True
    return start, end, not vague


def find_dates(text: str, received: date, *, past_tense: bool = False) -> list[DateMention]:
    """Every date mention in ``text``, resolved against the day the words were received.

    Where two readings overlap, the longer one wins ("by the end of next week" over "next
    week"). ``past_tense`` reads a bare weekday ("went out on Monday") as the one just gone.
    """
    candidates = []
    for order, (pattern, resolver, relative) in enumerate(_RULES):
        for match in pattern.finditer(text):
            resolved = resolver(match, received, past_tense)
            if resolved:
                candidates.append((match, resolved, relative, order))
    candidates.sort(key=lambda c: (-(c[0].end() - c[0].start()), c[3], c[0].start()))
    taken: list[tuple[int, int]] = []
    found: list[DateMention] = []
    for match, (start, end, exact), relative, _order in candidates:
        span = match.span()
        if any(span[0] < stop and begin < span[1] for begin, stop in taken):
            continue
        taken.append(span)
        found.append(
            DateMention(
                text=match.group(0).strip(" .,;:"),
                start=start,
                end=end,
                exact=exact,
                relative=relative,
                position=span[0],
            )
        )
    return sorted(found, key=lambda mention: mention.position)
