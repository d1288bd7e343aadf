"""Anonymise one customer's personal data on request: ``manage.py erase_customer EMAIL``.

What is erased and what is kept (packets, audit rows) is described in ``packets.privacy.customer_data``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from packets.privacy.customer_data import CustomerNotFound, erase_customer


class Command(BaseCommand):
    help = (
        "Erase a customer's personal data (name, email, phone, shipping address, message texts) and record it "
        "in the audit trail. Packets stay as they were, so their hashes still verify."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The customer's email address (case-insensitive).")
        parser.add_argument("--reason", default="erasure requested by the customer", help="Recorded with the erasure.")

    def handle(self, *args, email: str, reason: str, **options):
        try:
            event = erase_customer(email, reason=reason)
        except CustomerNotFound as error:
            raise CommandError(str(error)) from error
        counts = ", ".join(f"{name}: {n}" for name, n in event.data["counts"].items())
        self.stdout.write(self.style.SUCCESS(f"{event.summary}. Rows anonymised: {counts}."))
        kept = event.data["packets_kept"]
        if kept:
            self.stdout.write(f"{len(kept)} packet(s) keep their snapshot unchanged (audit record): {kept}")
