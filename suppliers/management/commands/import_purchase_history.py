import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from suppliers.history import import_purchase_history


class Command(BaseCommand):
    help = "Load purchase history (supplier,sku,ordered_at,quoted_at,received_at) from a CSV file; safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--create-missing", action="store_true", help="Create suppliers and SKUs the store does not know yet."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, file: Path, create_missing: bool, json: bool = False, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        with file.open("rb") as handle:
            report = import_purchase_history(handle, create_missing=create_missing)
        if json:
            self.stdout.write(_json(report.as_dict()))
        else:
            self.stdout.write(
                f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
                f"{len(report.errors)} rejected"
            )
            for error in report.errors:
                self.stdout.write(f"  line {error['line']}: {error['error']}  {error['row']}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} row(s) rejected; the others were loaded.")


def _json(data) -> str:
    return json.dumps(data, indent=2, default=str)
