"""Replace the store with a large, consistent one for benchmarks: python manage.py seed_scale --orders N"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from packets.seeding.scale import SeedRefused, seed_scale


class Command(BaseCommand):
    help = (
        "Replace the whole store with a scale store written with COPY: N orders, N/8 open (four lines each), "
        "N/10 open backorder cases with packets. Refuses a database it did not seed unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=200_000, help="Orders in the store (default 200,000).")
        parser.add_argument(
            "--force", action="store_true", help="Wipe the store even though seed_scale did not make it."
        )

    def handle(self, *args, orders: int, force: bool, **options):
        if orders < 20:
            raise CommandError("--orders must be at least 20.")
        try:
            summary = seed_scale(orders, force=force, log=self.stdout.write if options["verbosity"] > 1 else None)
        except SeedRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Scale store: {summary.orders:,} orders, {summary.open_lines:,} open lines, {summary.cases:,} open cases, "
            f"{summary.products:,} products in {summary.seconds:.1f}s."
        )
