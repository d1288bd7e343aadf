"""Print one customer's data as JSON, for an access request: ``manage.py export_customer EMAIL``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from packets.privacy.customer_data import CustomerNotFound, export_customer


class Command(BaseCommand):
    help = "Print everything kept about one customer (orders, lines, messages, inbound messages, cases) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("email", help="The customer's email address (case-insensitive).")

    def handle(self, *args, email: str, **options):
        try:
            data = export_customer(email)
        except CustomerNotFound as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
