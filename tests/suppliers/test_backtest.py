"""The ETA backtest: no lookahead, honest baselines, and a command that prints them."""

import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.management import call_command

from backorders.calendar import BusinessCalendar
from suppliers.backtest import buffer40_predictions, model_predictions, quote_predictions, run_backtest, score
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


def test_it_meets_its_goals_on_a_generated_history():
    rows = generate_history_rows(seed=3, per_supplier=40)
    names = {}
    arrivals = [
        arrival(
            date.fromisoformat(r["ordered_at"]),
            date.fromisoformat(r["quoted_at"]),
            date.fromisoformat(r["received_at"]),
            supplier_id=names.setdefault(r["supplier"], len(names)),
        )
        for r in rows
    ]
    results = run_backtest(arrivals, coverage=0.9, calendar=CAL)
    assert results["model"].coverage >= 0.9 and results["model"].late_rate <= 0.08
    assert results["model"].mean_width_days <= results["buffer40"].mean_width_days
    assert results["model"].coverage > results["buffer40"].coverage > results["quote"].coverage


@pytest.mark.django_db
def test_it_prints_the_three_scores_as_json_from_imported_history(tmp_path, policy):
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as handle:
        write_history_csv(generate_history_rows(seed=1, per_supplier=6), handle)
    call_command("import_purchase_history", str(path), "--create-missing", stdout=io.StringIO())
    out = io.StringIO()
    call_command("eta_backtest", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert set(data) == {"model", "quote", "buffer40"}
    for name in data:
        assert data[name]["predictions"] == 30
        assert {"coverage", "late_rate", "mean_width_days"} <= set(data[name])
