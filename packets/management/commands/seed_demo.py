from django.core.management.base import BaseCommand

from packets.seeding.demo import seed_demo


class Command(BaseCommand):
    help = "Load the demo store (idempotent: a second run only refreshes the demo logins)."

    def handle(self, *args, **options):
        summary = seed_demo()
        if summary.created:
            self.stdout.write(f"Demo store loaded: {summary.products} products, {summary.orders} orders.")
        else:
            self.stdout.write(f"Demo store already loaded ({summary.products} products, {summary.orders} orders).")
        self.stdout.write("Logins:")
        for role, username, password in summary.logins:
            self.stdout.write(f"  {role:<8} {username} / {password}")
