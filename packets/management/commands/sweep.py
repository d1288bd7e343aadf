from django.core.management.base import BaseCommand

from packets.sweep import run_after_sweep, run_sweep
from packets.sweep.changed import sweep_changed


class Command(BaseCommand):
    help = (
        "Reconcile cases and packets with the facts (idempotent: a second run changes nothing). "
        "With --changed, only the cases whose facts changed or whose clock fell due."
    )

    def add_arguments(self, parser):
        parser.add_argument("--changed", action="store_true", help="rebuild only what the dirty keys reach")

    def handle(self, *args, **options):
        if options["changed"]:
            result = sweep_changed()
            run_after_sweep()
        else:
            result = run_sweep()
        self.stdout.write(f"Sweep done: {result}")
