"""Replaying the purchase history to check the ETA model against what really happened.

Each purchase order is predicted from what was known *before it was placed*: only orders
received before its ``ordered_at`` feed the model. Three predictors are scored:

- ``model``: the lateness model of ``suppliers.eta`` at the policy's coverage;
- ``quote``: the supplier's quoted day, taken at its word: [quoted, quoted];
- ``buffer40``: "tell them 14 when you think 10": [quoted, ordered + 1.4 × (quoted − ordered)];
- ``empirical``: the plain per-supplier empirical quantiles of lateness at ``(1 - c) / 2`` and
  ``(1 + c) / 2`` over every earlier arrival (all suppliers' until the supplier has one).

For each: ``coverage`` (share of arrivals inside the range), ``late_rate`` (share after its end),
``mean_width_days`` (calendar days, end minus start) and ``interval_score``: Gneiting and
Raftery's score of a central interval at coverage ``1 - a``, ``width + (2 / a) x (days outside
it)``, averaged, in calendar days: lower is better, and a narrow range that misses pays for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from backorders.calendar import BusinessCalendar

from .eta import Arrival, LatenessModel, arrival_range, business_range, shift_business_days
from .lateness import _weighted_quantile


@dataclass(frozen=True)
class Score:
    predictions: int
    coverage: float
    late_rate: float
    early_rate: float
    mean_width_days: float
    interval_score: float

    def as_dict(self) -> dict:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Prediction:
    arrival: Arrival
    start: date
    end: date
    known: int  # how many past arrivals the prediction could use


def model_predictions(
    arrivals: Sequence[Arrival], *, coverage: float, calendar: BusinessCalendar
) -> Iterator[Prediction]:
    """The model's range for each arrival, in order placed, from strictly earlier receipts only."""
    by_receipt = sorted(arrivals, key=lambda a: a.received_at)
    for target in sorted(arrivals, key=lambda a: a.ordered_at):
        known = [a for a in by_receipt if a.received_at < target.ordered_at]
        ordered = calendar.local_date(target.ordered_at)
        model = LatenessModel(known, as_of=ordered, calendar=calendar)
        start, end, _ = arrival_range(
            model, calendar, supplier_id=target.supplier_id, quoted=target.quoted, ordered=ordered, coverage=coverage
        )
        yield Prediction(target, start, end, len(known))


def quote_predictions(arrivals: Sequence[Arrival], calendar: BusinessCalendar) -> Iterator[Prediction]:
    for a in sorted(arrivals, key=lambda a: a.ordered_at):
        yield Prediction(a, a.quoted, a.quoted, 0)


def buffer40_predictions(arrivals: Sequence[Arrival], calendar: BusinessCalendar) -> Iterator[Prediction]:
    for a in sorted(arrivals, key=lambda a: a.ordered_at):
        ordered = calendar.local_date(a.ordered_at)
        lead = (a.quoted - ordered).days
        end = ordered + timedelta(days=round(1.4 * lead))
        yield Prediction(a, a.quoted, max(end, a.quoted), 0)


def empirical_predictions(
    arrivals: Sequence[Arrival], calendar: BusinessCalendar, *, coverage: float = 0.9
) -> Iterator[Prediction]:
    """Per-supplier empirical lateness quantiles from strictly earlier receipts, nothing more."""
    tail = (1 - coverage) / 2
    by_receipt = sorted(arrivals, key=lambda a: a.received_at)
    for target in sorted(arrivals, key=lambda a: a.ordered_at):
        known = [a for a in by_receipt if a.received_at < target.ordered_at]
        own = [a for a in known if a.supplier_id == target.supplier_id] or known
        ordered = calendar.local_date(target.ordered_at)
        if not own:
            yield Prediction(target, target.quoted, calendar.add_business_days(target.quoted, 1), 0)
            continue
        points = [(float(a.lateness(calendar)), 1.0) for a in own]
        low, high = _weighted_quantile(points, tail), _weighted_quantile(points, 1 - tail)
        start, end = business_range(
            calendar,
            shift_business_days(calendar, target.quoted, int(low)),
            shift_business_days(calendar, target.quoted, int(high)),
            not_before=ordered + timedelta(days=1),
        )
        yield Prediction(target, start, end, len(known))


def score(predictions: Iterator[Prediction], *, coverage: float = 0.9) -> Score:
    predictions = list(predictions)
    if not predictions:
        return Score(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    inside = sum(p.start <= p.arrival.received <= p.end for p in predictions)
    late = sum(p.arrival.received > p.end for p in predictions)
    early = sum(p.arrival.received < p.start for p in predictions)
    width = sum((p.end - p.start).days for p in predictions)
    penalty = 2 / (1 - coverage)
    interval = sum(
        (p.end - p.start).days
        + penalty * max(0, (p.start - p.arrival.received).days)
        + penalty * max(0, (p.arrival.received - p.end).days)
        for p in predictions
    )
    n = len(predictions)
    return Score(n, inside / n, late / n, early / n, width / n, interval / n)


def run_backtest(arrivals: Sequence[Arrival], *, coverage: float, calendar: BusinessCalendar) -> dict[str, Score]:
    baselines: dict[str, Callable] = {"quote": quote_predictions, "buffer40": buffer40_predictions}
    results = {"model": score(model_predictions(arrivals, coverage=coverage, calendar=calendar), coverage=coverage)}
    for name, predict in baselines.items():
        results[name] = score(predict(arrivals, calendar), coverage=coverage)
    results["empirical"] = score(empirical_predictions(arrivals, calendar, coverage=coverage), coverage=coverage)
    return results
