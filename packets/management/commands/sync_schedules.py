from django.core.management.base import BaseCommand

from packets.schedules import sync_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules declared in packets/schedules.py (by name; idempotent)."

    def handle(self, *args, **options):
        for name, outcome in sync_schedules():
            self.stdout.write(f"{name}: {outcome}")
