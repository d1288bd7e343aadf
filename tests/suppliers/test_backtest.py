"""The ETA backtest: no lookahead, honest baselines, and a command that prints them."""

import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.management import call_command

from backorders.calendar import BusinessCalendar
from suppliers.backtest import (
    Prediction,
    buffer40_predictions,
    model_predictions,
    quote_predictions,
    run_backtest,
    score,
)
from suppliers.eta import Arrival
from suppliers.history import generate_history_rows, write_history_csv

CAL = BusinessCalendar(tz="UTC")


def arrival(ordered: date, quoted: date, received: date, supplier_id=1) -> Arrival:
    return Arrival(
        supplier_id=supplier_id,
        ordered_at=datetime.combine(ordered, time(9), tzinfo=UTC),
        quoted=quoted,
        received_at=datetime.combine(received, time(15), tzinfo=UTC),
        received=received,
    )


def weekly(n: int, late_days: int, start=date(2025, 1, 6)) -> list[Arrival]:
    rows = []
    for i in range(n):
        ordered = start + timedelta(days=7 * i)
        quoted = ordered + timedelta(days=14)
        rows.append(arrival(ordered, quoted, quoted + timedelta(days=late_days)))
    return rows


def test_it_predicts_each_order_only_from_receipts_before_it_was_placed():
    history = weekly(30, 0)
    base = {p.arrival: p for p in model_predictions(history, coverage=0.9, calendar=CAL)}
    # Make every order from week 20 on wildly late: predictions for orders placed before any of
    # those arrived must not move.
    changed = history[:20] + [
        replace(a, received=a.received + timedelta(days=30), received_at=a.received_at + timedelta(days=30))
        for a in history[20:]
    ]
    first_changed_receipt = min(a.received_at for a in history[20:])
    after = {(p.arrival.ordered_at): p for p in model_predictions(changed, coverage=0.9, calendar=CAL)}
    compared = 0
    for a, prediction in base.items():
        if a.ordered_at <= first_changed_receipt:
            moved = after[a.ordered_at]
            assert (moved.start, moved.end, moved.known) == (prediction.start, prediction.end, prediction.known)
            compared += 1
    assert compared >= 20


def test_it_does_not_use_an_order_placed_earlier_but_received_after():
    slow = arrival(date(2025, 1, 6), date(2025, 1, 20), date(2025, 3, 3))
    target = arrival(date(2025, 2, 3), date(2025, 2, 17), date(2025, 2, 17))
    predictions = {p.arrival: p for p in model_predictions([slow, target], coverage=0.9, calendar=CAL)}
    assert predictions[target].known == 0 and predictions[slow].known == 0


def test_it_scores_the_quote_and_buffer40_baselines_as_defined():
    on_time = arrival(date(2025, 1, 6), date(2025, 1, 16), date(2025, 1, 16))
    late = arrival(date(2025, 1, 6), date(2025, 1, 16), date(2025, 1, 21))
    quote = score(quote_predictions([on_time, late], CAL))
    assert (quote.coverage, quote.late_rate, quote.mean_width_days) == (0.5, 0.5, 0.0)
    buffer = next(iter(buffer40_predictions([late], CAL)))
    assert (buffer.start, buffer.end) == (
        date(2025, 1, 16),
        date(2025, 1, 20),
    )  # 10 days x 1.4 = 14 days after ordering
    assert score(iter([buffer])).late_rate == 1.0


def test_it_never_predicts_a_single_day():
    history = weekly(25, 0)
    assert all(p.start < p.end for p in model_predictions(history, coverage=0.9, calendar=CAL))


def generated(seed: int, **options) -> list[Arrival]:
    names = {}
    return [
        arrival(
            date.fromisoformat(r["ordered_at"]),
            date.fromisoformat(r["quoted_at"]),
            date.fromisoformat(r["received_at"]),
            supplier_id=names.setdefault(r["supplier"], len(names)),
        )
        for r in generate_history_rows(seed=seed, **options)
    ]


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_it_meets_its_goals_on_generated_histories_of_six_habits(seed):
    results = run_backtest(generated(seed), coverage=0.9, calendar=CAL)
    model, buffer40, empirical = results["model"], results["buffer40"], results["empirical"]
    assert model.predictions == 306
    assert model.coverage >= 0.9 and model.late_rate <= 0.08
    assert model.mean_width_days <= buffer40.mean_width_days
    assert model.coverage > empirical.coverage and model.coverage > buffer40.coverage > results["quote"].coverage
    # the interval score: the narrowest honest range scores best (lower is better)
    assert model.interval_score < min(
        empirical.interval_score, buffer40.interval_score, results["quote"].interval_score
    )


def test_the_interval_score_is_the_width_plus_twenty_times_the_miss_at_ninety_percent():
    on_time = arrival(date(2025, 1, 6), date(2025, 1, 16), date(2025, 1, 16))
    late = arrival(date(2025, 1, 6), date(2025, 1, 16), date(2025, 1, 21))
    ranges = [Prediction(on_time, date(2025, 1, 15), date(2025, 1, 17), 0)]
    ranges.append(Prediction(late, date(2025, 1, 15), date(2025, 1, 17), 0))
    scored = score(iter(ranges), coverage=0.9)
    assert scored.interval_score == pytest.approx((2 + 2 + 20 * 4) / 2)
    assert score(iter(ranges), coverage=0.8).interval_score == pytest.approx((2 + 2 + 10 * 4) / 2)


def test_it_follows_a_supplier_that_drifts_later_without_breaking_its_promise():
    rows = generated(5)
    drifting = {a.supplier_id for a in rows if a.lateness(CAL) >= 6}  # only the drifting and heavy-tailed get there
    late_half = [p for p in model_predictions(rows, coverage=0.9, calendar=CAL) if p.known > 150]
    on_drift = [p for p in late_half if p.arrival.supplier_id in drifting]
    assert on_drift and score(iter(on_drift)).late_rate <= 0.1


@pytest.mark.django_db
def test_it_prints_the_four_scores_as_json_from_imported_history(tmp_path, policy):
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as handle:
        write_history_csv(generate_history_rows(seed=1, per_supplier=6), handle)
    call_command("import_purchase_history", str(path), "--create-missing", stdout=io.StringIO())
    out = io.StringIO()
    call_command("eta_backtest", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert set(data) == {"model", "quote", "buffer40", "empirical"}
    for name in data:
        assert data[name]["predictions"] == 36  # five suppliers x 6, and the sparse one's six
        assert {"coverage", "late_rate", "mean_width_days", "interval_score"} <= set(data[name])
