"""Receive units and allocate them: ``manage.py receive_stock SKU QTY [--reference PO-123] [--approve]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from backorders.allocation import AllocationError, receive_stock
from backorders.models import Product


class Command(BaseCommand):
    help = (
        "Add received units to a product's stock and allocate them to waiting order lines. When supply is "
        "short of demand the allocation waits for the owner's review, unless --approve applies it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("sku", help="The product's SKU, as in the catalog (case-insensitive).")
        parser.add_argument("quantity", type=int, help="Units received (at least 1).")
        parser.add_argument("--reference", default="", help="Purchase order or delivery note, such as PO-123.")
        parser.add_argument(
            "--approve", action="store_true", help="Apply a short-supply allocation at once, as the owner would."
        )

    def handle(self, *args, sku: str, quantity: int, reference: str, approve: bool, **options):
        product = Product.objects.filter(sku__iexact=sku.strip()).first()
        if product is None:
            raise CommandError(f"No product with SKU {sku!r}.")
        try:
            outcome = receive_stock(product.pk, quantity, reference=reference, approve=approve)
        except AllocationError as error:
            raise CommandError(str(error)) from error
        record = outcome.record
        self.stdout.write(
            f"{product.sku}: received {quantity}, on hand {record.on_hand_before} -> {record.on_hand_after}; "
            f"{record.demand_units} unit(s) waiting, {record.free_units} free."
        )
        for entry in record.plan.get("entries", []):
            if entry["give"]:
                self.stdout.write(f"  {entry['number']}: {entry['outcome']} ({entry['reason']})")
        if outcome.proposal is not None:
            self.stdout.write(
                self.style.WARNING(
                    f"Supply is short: allocation {record.pk} awaits the owner's review "
                    f"({record.planned_units} of {record.demand_units} units planned)."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"{record.get_status_display()}: {record.applied_units} unit(s)."))
