"""The lateness model behind ETA ranges: how late each supplier delivers against its quotes.

Every received purchase order is one observation of lateness: the business days between the
arrival date the supplier quoted and the day the goods reached us (early is negative).
``LatenessModel.interval`` turns a supplier's record into bounds on its next lateness at a
promised coverage; ``suppliers.eta`` moves them onto the calendar around a quote. How the model
was chosen, and what else was tried, is measured in the README (``eta_backtest``).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from backorders.calendar import BusinessCalendar

HALF_LIFE_DAYS = 120  # recency weight of an arrival once goods are past their quote
PRIOR_WEIGHT = 6.0  # a supplier's own residuals count n / (n + 6) against all suppliers'
DRIFT_MIN = 8  # arrivals before a trend in lateness is looked for
DRIFT_T = 3.0  # |t| of the trend's slope that counts as drift
DRIFT_WINDOW = 30  # a drifting supplier is read from its last arrivals only ...
DRIFT_CLAMP = 8  # ... and its trend never carried beyond what its last arrivals did
SPARSE_BELOW = 20  # fewer own arrivals than this: the range is widened (the packet says so)
SPARSE_WIDEN = 0.3  # ... by this many standard deviations of all lateness over sqrt(n) ...
CENTRE_PRIOR = 1.0  # ... and its centre counts n / (n + 1) against all suppliers' median
LATE_SHARE = 0.5  # of the misses the coverage allows, the share on the late side (measured: see README)
RECENT_COUNT = 24  # "lately": the supplier's last arrivals the packet sums up
COLD_START_SPREAD = 0.3  # with no history at all: up to 30% of the quoted lead time late


@dataclass(frozen=True)
class Arrival:
    """One received purchase order, as the model sees it."""

    supplier_id: int
    ordered_at: datetime
    quoted: date
    received_at: datetime
    received: date  # the local day it arrived
    reference: str = ""

    def lateness(self, calendar: BusinessCalendar) -> int:
        """Business days after the quoted day (negative when early)."""
        if self.received >= self.quoted:
            return calendar.business_days_between(self.quoted, self.received)
        return -calendar.business_days_between(self.received, self.quoted)


def _weighted_quantile(points: Sequence[tuple[float, float]], q: float) -> float:
    """The smallest value whose cumulative weight share reaches ``q``; points are (value, weight)."""
    ordered = sorted(points)
    total = sum(weight for _, weight in ordered)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= q * total - 1e-12:
            return value
    return ordered[-1][0]


def _kish(points: Sequence[tuple[float, float]]) -> float:
    """Effective sample size of weighted points: (sum w)^2 / sum w^2."""
    total = sum(w for _, w in points)
    return total * total / sum(w * w for _, w in points) if points else 0.0


def _small_sample_tail(tail: float, n: float) -> float:
    """The quantile level to use for a tail of ``tail`` from ``n`` observations.

    An empirical quantile from few points covers less than its level promises; as in split
    conformal prediction, aim for the ``(n + 1)``-th share instead: ``tail - (1 - tail) / n``.
    """
    return max(0.0, tail - (1 - tail) / n) if n else 0.0


def conformal_quantile(values: Sequence[float], level: float) -> float:
    """The split-conformal quantile: the ``ceil((n + 1) x level)``-th smallest value (a lower
    tail mirrored). Beyond the data (too few points for the level) it is the extreme value."""
    ordered = sorted(values)
    n = len(ordered)
    upper = min(n, math.ceil((n + 1) * level))
    lower = max(1, n + 1 - math.ceil((n + 1) * (1 - level)))
    return ordered[(upper if level >= 0.5 else lower) - 1]


def trend(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares line through (x, y) points: slope, intercept and the slope's t statistic."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if n < 3 or sxx == 0:
        return 0.0, mean_y, 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    intercept = mean_y - slope * mean_x
    residual = sum((y - intercept - slope * x) ** 2 for x, y in points) / (n - 2)
    return slope, intercept, slope / math.sqrt(residual / sxx) if residual > 0 else math.copysign(1e9, slope or 1)


@dataclass(frozen=True)
class Interval:
    low: int  # days relative to the quote
    high: int
    basis: str
    own: int = 0  # the supplier's own past arrivals it rests on
    recent: tuple[int, int] | None = None  # the supplier's lateness lately (low, high), business days
    sparse: bool = False  # too few own arrivals: widened toward all suppliers' record
    recent_hits: tuple[int, int] | None = None  # of the supplier's last arrivals, how many it covers

    def sureness(self, coverage: float) -> str:
        """How sure the range is, in words for the packet (no dates: they are beside it)."""
        if not self.own:
            return "no deliveries from this supplier on record yet, so the range leans on all suppliers' and is wider"
        lately = _lately(self.recent) if self.recent else ""
        if self.sparse:
            return (
                f"only {self.own} past deliver{'y' if self.own == 1 else 'ies'} from this supplier, "
                f"so the range is wider and leans on all suppliers' record" + (f"; {lately}" if lately else "")
            )
        hits, count = self.recent_hits or (0, 0)
        covered = f"covers about {hits / count:.0%} of this supplier's last {count} arrivals" if count else ""
        return "; ".join(part for part in (covered, lately) if part)


def _days(n: int) -> str:
    return f"{n} business day{'' if n == 1 else 's'}"


def _lately(span: tuple[int, int]) -> str:
    low, high = span
    if low > 0:
        return (
            f"it has been late by {low}-{high} business days lately"
            if high > low
            else f"it has been {_days(low)} late lately"
        )
    if high < 0:
        return (
            f"it has been early by {-high}-{-low} business days lately"
            if high > low
            else f"it has been {_days(-high)} early lately"
        )
    if low == 0:
        return "it has been on time lately" if high == 0 else f"it has been on time to {_days(high)} late lately"
    return (
        f"it has been between {_days(-low)} early and {_days(high)} late lately"
        if high
        else f"it has been on time to {_days(-low)} early lately"
    )


@dataclass(frozen=True)
class _Centred:
    residuals: list[float]
    centre: float  # the supplier's typical lateness at the predicted time
    drifting: bool


class LatenessModel:
    """Lateness intervals per supplier from the arrivals known at ``as_of``.

    Each supplier's lateness is split into a centre and residuals around it. The centre is the
    median, or, when its lateness drifts (a least-squares trend over its arrivals with
    |t| > ``DRIFT_T``), the trend line at the predicted arrival. The residual bounds are
    split-conformal quantiles at the promised coverage (half the misses early, half late): the
    supplier's own, shrunk toward every supplier's residuals by ``n / (n + PRIOR_WEIGHT)``. A
    supplier with fewer than ``SPARSE_BELOW`` arrivals is widened by ``SPARSE_WIDEN`` standard
    deviations of all lateness over the square root of its count (its centre is uncertain too).
    """

    def __init__(
        self,
        arrivals: Iterable[Arrival],
        *,
        as_of: date,
        calendar: BusinessCalendar,
        half_life_days: float = HALF_LIFE_DAYS,
        prior_weight: float = PRIOR_WEIGHT,
    ):
        self.as_of = as_of
        self.prior_weight = prior_weight
        self.by_supplier: dict[int, list[tuple[float, float]]] = defaultdict(list)
        self.pool: list[tuple[float, float]] = []
        self.timeline: dict[int, list[tuple[int, float]]] = defaultdict(list)  # (received day, lateness)
        for arrival in sorted(arrivals, key=lambda a: a.received_at):
            age = max(0, (as_of - arrival.received).days)
            late = float(arrival.lateness(calendar))
            point = (late, 0.5 ** (age / half_life_days))
            self.by_supplier[arrival.supplier_id].append(point)
            self.pool.append(point)
            self.timeline[arrival.supplier_id].append((arrival.received.toordinal(), late))
        self.pooled_residuals = [
            r for points in self.timeline.values() if len(points) >= 2 for r in self._centred(points, None).residuals
        ]
        lateness = [late for late, _ in self.pool]
        self.spread = statistics.pstdev(lateness) if len(lateness) >= 2 else 0.0

    def effective_n(self, supplier_id: int) -> float:
        return _kish(self.by_supplier.get(supplier_id, []))

    def share(self, supplier_id: int) -> float:
        """How much the supplier's own history counts against all suppliers': n / (n + k)."""
        n = len(self.timeline.get(supplier_id, []))
        return n / (n + self.prior_weight) if n else 0.0

    @staticmethod
    def _centred(points: Sequence[tuple[int, float]], at: date | None) -> _Centred:
        """The supplier's typical lateness at ``at`` and its arrivals' residuals around it.

        A drifting supplier (a trend over all its arrivals) is read from its last
        ``DRIFT_WINDOW`` arrivals only: their own trend line when they still trend (held within
        the lateness of its last ``DRIFT_CLAMP`` arrivals: a step change is not a line to carry
        on), else their median.
        """
        if len(points) >= DRIFT_MIN:
            slope, intercept, t = trend(points)
            if abs(t) > DRIFT_T:
                window = list(points[-DRIFT_WINDOW:])
                slope, intercept, t = trend(window)
                if abs(t) > DRIFT_T:
                    residuals = [late - (intercept + slope * day) for day, late in window]
                    centre = intercept + slope * (at or date.fromordinal(window[-1][0])).toordinal()
                    latest = [late for _, late in window[-DRIFT_CLAMP:]]
                    return _Centred(residuals, min(max(centre, min(latest)), max(latest)), True)
                centre = statistics.median(late for _, late in window)
                return _Centred([late - centre for _, late in window], centre, True)
        centre = statistics.median(late for _, late in points)
        return _Centred([late - centre for _, late in points], centre, False)

    def recent(self, supplier_id: int, count: int = RECENT_COUNT) -> tuple[int, int] | None:
        """The supplier's lateness over its last ``count`` arrivals, as a 10th-90th percentile span."""
        values = [late for _, late in self.timeline.get(supplier_id, [])[-count:]]
        if not values:
            return None
        return math.floor(_weighted_quantile([(v, 1) for v in values], 0.1)), math.ceil(
            _weighted_quantile([(v, 1) for v in values], 0.9)
        )

    def interval(
        self,
        supplier_id: int,
        coverage: float,
        *,
        lead_days: int,
        later_than: int | None = None,
        at: date | None = None,
    ) -> Interval:
        """Lateness bounds (business days after the quote) covering ``coverage`` of arrivals.

        ``at``: the quoted day (a drifting supplier's centre is read there). ``later_than``: the
        goods are already this many business days past the quote and not here, so only the part
        of each distribution beyond it applies.
        """
        if not self.pool:
            spread = max(2, math.ceil(COLD_START_SPREAD * max(lead_days, 1) * 5 / 7))
            low = 0 if later_than is None else later_than + 1
            return Interval(low, low + spread, "no arrival history yet: a default spread")
        if later_than is not None:
            return self._overdue(supplier_id, coverage, later_than)
        own = self.timeline.get(supplier_id, [])
        n = len(own)
        early_tail, late_tail = (1 - coverage) * (1 - LATE_SHARE), (1 - coverage) * LATE_SHARE
        pooled = self.pooled_residuals or [late - statistics.median(v for v, _ in self.pool) for late, _ in self.pool]
        pool_low, pool_high = conformal_quantile(pooled, early_tail), conformal_quantile(pooled, 1 - late_tail)
        recent = self.recent(supplier_id)
        if n == 0:
            centre = statistics.median(late for late, _ in self.pool)
            widen = self.spread
            low, high = centre + pool_low - widen, centre + pool_high + widen
            basis = f"no deliveries from this supplier yet: all suppliers' {len(self.pool)} deliveries, widened"
            return Interval(math.floor(low), math.ceil(high), basis, sparse=True)
        centred = self._centred(own, at)
        share = n / (n + self.prior_weight)
        if n < SPARSE_BELOW:  # one or two arrivals say little about where the supplier's lateness centres
            pull = n / (n + CENTRE_PRIOR)
            centre = pull * centred.centre + (1 - pull) * statistics.median(late for late, _ in self.pool)
            centred = _Centred(centred.residuals, centre, centred.drifting)
        own_low = conformal_quantile(centred.residuals, early_tail) if n >= 2 else pool_low
        own_high = conformal_quantile(centred.residuals, 1 - late_tail) if n >= 2 else pool_high
        widen = SPARSE_WIDEN * self.spread / math.sqrt(n) if n < SPARSE_BELOW else 0.0
        low = centred.centre + share * own_low + (1 - share) * pool_low - widen
        high = centred.centre + share * own_high + (1 - share) * pool_high + widen
        basis = f"{n} past deliveries from this supplier (weight {share:.0%}, the rest all suppliers')"
        if centred.drifting:
            basis += "; its lateness is drifting, so the trend counts"
        low, high = math.floor(low), math.ceil(high)
        last = [centred.centre + r for r in centred.residuals[-RECENT_COUNT:]]
        hits = (sum(low <= v <= high for v in last), len(last))
        return Interval(low, high, basis, own=n, recent=recent, sparse=n < SPARSE_BELOW, recent_hits=hits)

    def _overdue(self, supplier_id: int, coverage: float, later_than: int) -> Interval:
        """Goods past their quote: the weighted quantiles of the arrivals later than that."""
        own = [(v, w) for v, w in self.by_supplier.get(supplier_id, []) if v > later_than]
        pool = [(v, w) for v, w in self.pool if v > later_than]
        if not pool:
            return Interval(later_than + 1, later_than + 3, "later than every arrival on record: a default spread")
        tail = (1 - coverage) / 2
        pool_tail = _small_sample_tail(tail, _kish(pool))
        pool_low, pool_high = _weighted_quantile(pool, pool_tail), _weighted_quantile(pool, 1 - pool_tail)
        n = _kish(own)
        share = n / (n + self.prior_weight) if own else 0.0
        if own:
            own_tail = _small_sample_tail(tail, n)
            low = share * _weighted_quantile(own, own_tail) + (1 - share) * pool_low
            high = share * _weighted_quantile(own, 1 - own_tail) + (1 - share) * pool_high
        else:
            low, high = pool_low, pool_high
        count = len(self.timeline.get(supplier_id, []))
        basis = f"already past its quote: the {len(pool)} deliveries on record that were later than that"
        return Interval(
            math.floor(low),
            math.ceil(high),
            basis,
            own=count,
            recent=self.recent(supplier_id),
            sparse=count < SPARSE_BELOW,
        )
