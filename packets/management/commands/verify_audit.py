"""Check that what the audit relies on is intact; exit code 1 when it is not.

- every packet's stored SHA-256 matches its content, recomputed now;
- on PostgreSQL, the trigger that refuses edits to audit rows is in place.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from packets.models import AuditEvent, Packet

TRIGGER = "packets_auditevent_append_only"


class Command(BaseCommand):
    help = "Verify packet hashes against their content (and the audit table's append-only trigger)."

    def handle(self, *args, **options):
        problems: list[str] = []
        checked = 0
        packets = Packet.objects.order_by("id").values_list("id", "case_id", "version", "content", "content_sha256")
        for pk, case_id, version, content, stored in packets.iterator(chunk_size=500):
            checked += 1
            computed = Packet.hash_content(content)
            if computed != stored:
                problems.append(
                    f"ALTERED: packet {pk} (case {case_id}, v{version}) stored {stored or '(none)'}, "
                    f"content hashes to {computed}"
                )
        if connection.vendor == "postgresql" and not self._trigger_installed():
            problems.append(f"The append-only trigger {TRIGGER} is missing from {AuditEvent._meta.db_table}.")
        for line in problems:
            self.stderr.write(line)
        if problems:
            raise CommandError(f"{len(problems)} problem(s) found; {checked} packet(s) checked.", returncode=1)
        self.stdout.write(f"OK: {checked} packet(s) match their SHA-256; audit rows are append-only.")

    def _trigger_installed(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass AND tgenabled <> 'D'",
                [TRIGGER, AuditEvent._meta.db_table],
            )
            return cursor.fetchone() is not None
