from django.core.management.base import BaseCommand

from packets.store_actions.schedules import sync_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules that retry store actions and outbound event deliveries."

    def handle(self, *args, **options):
        for name in sync_schedules():
            self.stdout.write(f"Scheduled: {name}")
