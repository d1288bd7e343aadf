"""Pull Magento's orders and stock: python manage.py sync_magento [--no-stock]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from backorders.intake import magento
from backorders.intake.common import MappingError


class Command(BaseCommand):
    help = (
        "Read Magento 2 / Adobe Commerce orders updated since the last run and its stock levels "
        "(REST, integration token), keep each changed record as a delivery and queue it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-stock", action="store_true", help="Orders only; leave stock levels for later.")

    def handle(self, *args, **options):
        if not magento.configured():
            raise CommandError("Magento is not configured: set MAGENTO_URL and MAGENTO_ACCESS_TOKEN.")
        try:
            report = magento.pull(stock=not options["no_stock"])
        except MappingError as exc:
            raise CommandError(f"Magento sync stopped: {exc}") from None
        self.stdout.write(str(report))
