from django.core.management.base import BaseCommand

from packets.notify.schedules import sync_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules that retry and reconcile outgoing messages."

    def handle(self, *args, **options):
        for name in sync_schedules():
            self.stdout.write(f"Scheduled: {name}")
