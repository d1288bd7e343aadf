import json

from django.core.management.base import BaseCommand

from backorders.calendar import BusinessCalendar
from backorders.models import StorePolicy
from suppliers.backtest import run_backtest
from suppliers.eta import load_arrivals


class Command(BaseCommand):
    help = (
        "Replay the purchase history in time order, predicting each order only from what arrived before it "
        "was placed, and score the ETA model against the 'quote', 'buffer40' and 'empirical' baselines "
        "(coverage, late and early rates, mean width, interval score)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object: model, quote, buffer40, empirical."
        )

    def handle(self, *args, json: bool = False, **options):
        policy = StorePolicy.objects.current()
        arrivals = load_arrivals()
        results = run_backtest(
            arrivals, coverage=float(policy.eta_coverage), calendar=BusinessCalendar.for_policy(policy)
        )
        if json:
            self.stdout.write(_dumps({name: score.as_dict() for name, score in results.items()}))
            return
        self.stdout.write(f"{len(arrivals)} received purchase orders; target coverage {policy.eta_coverage}")
        self.stdout.write(f"{'':10}{'coverage':>10}{'late':>8}{'early':>8}{'width (days)':>14}{'interval score':>16}")
        for name, score in results.items():
            self.stdout.write(
                f"{name:10}{score.coverage:>10.1%}{score.late_rate:>8.1%}{score.early_rate:>8.1%}"
                f"{score.mean_width_days:>14.2f}{score.interval_score:>16.2f}"
            )


def _dumps(data) -> str:
    return json.dumps(data, indent=2)
