"""Replaying the purchase history to check the ETA model against what really happened.

Each purchase order is predicted from what was known *before it was placed*: only orders
received before its ``ordered_at`` feed the model. Three predictors are scored:

- ``model``: the lateness model of ``suppliers.eta`` at the policy's coverage;
- ``quote``: the supplier's quoted day, taken at its word: [quoted, quoted];
- ``buffer40``: "tell them 14 when you think 10": [quoted, ordered + 1.4 × (quoted − ordered)].

For each: ``coverage`` (share of arrivals inside the range), ``late_rate`` (share after its end)
and ``mean_width_days`` (calendar days, end minus start).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from backorders.calendar import BusinessCalendar

from .eta import Arrival, LatenessModel, arrival_range


@dataclass(frozen=True)
class Score:
    predictions: int
    coverage: float
    late_rate: float
    early_rate: float
    mean_width_days: float

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


def score(predictions: Iterator[Prediction]) -> Score:
    predictions = list(predictions)
    if not predictions:
        return Score(0, 0.0, 0.0, 0.0, 0.0)
    inside = sum(p.start <= p.arrival.received <= p.end for p in predictions)
    late = sum(p.arrival.received > p.end for p in predictions)
    early = sum(p.arrival.received < p.start for p in predictions)
    width = sum((p.end - p.start).days for p in predictions)
    n = len(predictions)
    return Score(n, inside / n, late / n, early / n, width / n)


def run_backtest(arrivals: Sequence[Arrival], *, coverage: float, calendar: BusinessCalendar) -> dict[str, Score]:
    baselines: dict[str, Callable] = {"quote": quote_predictions, "buffer40": buffer40_predictions}
    results = {"model": score(model_predictions(arrivals, coverage=coverage, calendar=calendar))}
    for name, predict in baselines.items():
        results[name] = score(predict(arrivals, calendar))
    return results
