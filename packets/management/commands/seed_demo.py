from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from packets.seeding.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Load the demo store (idempotent: a second run only refreshes the demo logins). "
        "It creates logins with published passwords, so it refuses to run with DEBUG off "
        "unless --allow-production is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load the demo store although DEBUG is off (its logins have published passwords).",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError(
                "seed_demo creates an owner login with a published password and is meant for development: "
                "DEBUG is off, so nothing was loaded. Run it with DEBUG=true, or pass --allow-production "
                "to load the demo store here anyway."
            )
        summary = seed_demo()
        if summary.created:
            self.stdout.write(f"Demo store loaded: {summary.products} products, {summary.orders} orders.")
        else:
            self.stdout.write(f"Demo store already loaded ({summary.products} products, {summary.orders} orders).")
        self.stdout.write("Logins:")
        for role, username, password in summary.logins:
            self.stdout.write(f"  {role:<8} {username} / {password}")
