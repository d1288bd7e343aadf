"""Import a CSV file: python manage.py import_csv orders|inventory|tracking FILE"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backorders.intake.csv_import import importers, report_csv, run_job
from backorders.models import ImportJob


class Command(BaseCommand):
    help = "Import orders, inventory or tracking from a CSV file, with a per-row report of problems."

    def add_arguments(self, parser):
        parser.add_argument("kind", help="What the file holds: " + ", ".join(sorted(importers())))
        parser.add_argument("file", type=Path)
        parser.add_argument("--report", type=Path, help="Write the per-row report (CSV) to this file.")

    def handle(self, *args, kind: str, file: Path, report: Path | None, **options):
        kinds = importers()
        if kind not in kinds:
            raise CommandError(f"Unknown kind {kind!r}; choose one of: {', '.join(sorted(kinds))}")
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        job = run_job(ImportJob.objects.create(kind=kind, filename=file.name[:255], content=content))
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(f"{file.name}: {job.error}")
        s = job.summary
        self.stdout.write(
            f"{file.name}: {job.total_rows} rows; {s.get('created', 0)} created, {s.get('updated', 0)} updated, "
            f"{s.get('skipped', 0)} skipped; {s.get('errors', 0)} errors, {s.get('flags', 0)} flagged (import {job.pk})"
        )
        for entry in job.errors:
            self.stderr.write(f"row {entry['row']}, {entry['column']}: {entry['level']}: {entry['reason']}")
        if report:
            report.write_text(report_csv(job.errors), encoding="utf-8")
            self.stdout.write(f"Report written to {report}")
        if job.summary.get("changed"):
            from backorders.tasks import request_followup

            request_followup()
