import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from suppliers.history import HABITS, generate_history_rows, write_history_csv


class Command(BaseCommand):
    help = (
        "Write a synthetic purchase history: six suppliers of different habits ("
        + ", ".join(habit.name for habit in HABITS)
        + ")."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, help="CSV file to write (default: standard output).")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--per-supplier", type=int, default=60)
        parser.add_argument("--min-lead-days", type=int, default=10, help="Shortest quote, in business days.")
        parser.add_argument("--max-lead-days", type=int, default=30, help="Longest quote, in business days.")

    def handle(self, *args, out: Path | None, seed: int, per_supplier: int, **options):
        low, high = options["min_lead_days"], options["max_lead_days"]
        if not 1 <= low <= high:
            raise CommandError("--min-lead-days must be at least 1 and no more than --max-lead-days")
        rows = generate_history_rows(seed=seed, per_supplier=per_supplier, lead_days=(low, high))
        if out is None:
            write_history_csv(rows, sys.stdout)
            return
        with out.open("w", newline="") as handle:
            write_history_csv(rows, handle)
        self.stderr.write(f"Wrote {len(rows)} purchase orders to {out}")
