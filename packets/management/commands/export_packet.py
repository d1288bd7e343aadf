"""Write a case's decision packet to a PDF file: python manage.py export_packet CASE_ID FILE"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from packets.audit.export import NothingToExport, export_case_pdf
from packets.models import Case


class Command(BaseCommand):
    help = "Export the packet a case was decided on as a PDF (recorded in the audit trail)."

    def add_arguments(self, parser):
        parser.add_argument("case_id", type=int)
        parser.add_argument("file", type=Path, help="Where to write the PDF ('-' is not accepted).")
        parser.add_argument("--user", help="Username recorded as the exporter (default: system).")

    def handle(self, *args, case_id: int, file: Path, user: str | None = None, **options):
        actor = None
        if user:
            try:
                actor = get_user_model().objects.get_by_natural_key(user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user named {user!r}.") from None
        if not file.parent.is_dir():
            raise CommandError(f"The folder {file.parent} does not exist.")
        try:
            pdf, case, packet = export_case_pdf(case_id, user=actor, via="command")
        except Case.DoesNotExist:
            raise CommandError(f"No case {case_id}.") from None
        except NothingToExport as exc:
            raise CommandError(str(exc)) from None
        file.write_bytes(pdf)
        self.stdout.write(f"Wrote packet v{packet.version} of case {case.pk} to {file} ({len(pdf)} bytes).")
