"""Read customers' email replies from the IMAP mailbox ``IMAP_URL``: ``manage.py fetch_replies``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from packets.notify.imap import fetch_replies


class Command(BaseCommand):
    help = "Store the unseen emails of the IMAP_URL mailbox as customer replies, and queue their reading."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None, help="Another mailbox than IMAP_URL (imaps://user:pass@host/INBOX).")

    def handle(self, *args, url: str | None, **options):
        self.stdout.write(fetch_replies(url))
