from django.core.management.base import BaseCommand

from packets.sweep import run_sweep


class Command(BaseCommand):
    help = "Reconcile cases and packets with the facts (idempotent: a second run changes nothing)."

    def handle(self, *args, **options):
        result = run_sweep()
        self.stdout.write(f"Sweep done: {result}")
