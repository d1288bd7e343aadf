"""What the demo store's suppliers said, and a year of their purchase orders.

A mixin of ``demo._Builder``: supplier updates of every strength (confirmed, weak, conflicting,
silence, dispatch claims) on the demo catalog, and the received and open purchase orders the ETA
model learns from. Randomness comes from the builder's seeded generator.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from suppliers.models import PurchaseOrder, PurchaseOrderLine, SupplierSource, SupplierUpdate


class SupplyHistory:
    """Supplier evidence and purchase history for ``_Builder`` (its clock, suppliers and catalog)."""

    def build_supplier_evidence(self) -> None:
        s = self.suppliers
        today = self.now.date()
        SupplierUpdate.objects.create(
            supplier=s["copperline"],
            product=self.by_sku["KETTLE-2L"],
            kind=SupplierUpdate.Kind.STOCK_STATUS,
            stock_status=SupplierUpdate.StockStatus.OUT_OF_STOCK,
            strength=SupplierUpdate.Strength.CONFIRMED,
            strength_reason="Written confirmation from the supplier's account manager.",
            source_text=(
                "Confirming the 2L copper kettle is out of stock at our warehouse. Next production run not scheduled."
            ),
            received_at=self.ago(days=12),
        )
        SupplierUpdate.objects.create(
            supplier=s["northwind"],
            product=self.by_sku["MUG-SAGE"],
            kind=SupplierUpdate.Kind.STOCK_STATUS,
            stock_status=SupplierUpdate.StockStatus.VARIANT_MISSING,
            strength=SupplierUpdate.Strength.CONFIRMED,
            strength_reason="Supplier's catalogue no longer lists the glaze.",
            source_text="The sage glaze has been retired from our line; we can offer charcoal or blue instead.",
            received_at=self.ago(days=4),
        )
        SupplierUpdate.objects.create(
            supplier=s["harbor"],
            product=self.by_sku["THROW-RUST"],
            kind=SupplierUpdate.Kind.RESTOCK_ESTIMATE,
            stock_status=SupplierUpdate.StockStatus.OUT_OF_STOCK,
            restock_from=today + timedelta(days=10),
            restock_to=today + timedelta(days=24),
            strength=SupplierUpdate.Strength.WEAK,
            strength_reason="'Should be a couple of weeks' with no purchase order confirmation.",
            dates_found=[(today + timedelta(days=10)).isoformat(), (today + timedelta(days=24)).isoformat()],
            source_text=(
                "Rust linen should be back in a couple of weeks, maybe three. Will confirm when the bolt arrives."
            ),
            received_at=self.ago(days=2),
        )
        first = SupplierUpdate.objects.create(
            supplier=s["lumen"],
            product=self.by_sku["LAMP-BLACK"],
            kind=SupplierUpdate.Kind.STOCK_STATUS,
            stock_status=SupplierUpdate.StockStatus.IN_STOCK,
            strength=SupplierUpdate.Strength.WEAK,
            strength_reason="Phone call, not in writing.",
            source_text="Phone: black desk lamps are in stock, will ship this week.",
            received_at=self.ago(days=6),
        )
        SupplierUpdate.objects.create(
            supplier=s["lumen"],
            product=self.by_sku["LAMP-BLACK"],
            kind=SupplierUpdate.Kind.STOCK_STATUS,
            stock_status=SupplierUpdate.StockStatus.OUT_OF_STOCK,
            strength=SupplierUpdate.Strength.CONFLICTING,
            strength_reason="Contradicts the in-stock claim from four days earlier.",
            conflicts_with=first,
            source_text="Sorry, black lamps are backordered until the next container. No date yet.",
            received_at=self.ago(days=2),
        )
        SupplierUpdate.objects.create(
            supplier=s["lumen"],
            product=self.by_sku["SHADE-LARGE"],
            kind=SupplierUpdate.Kind.STOCK_STATUS,
            stock_status=SupplierUpdate.StockStatus.DISCONTINUED,
            strength=SupplierUpdate.Strength.CONFIRMED,
            source_text="The large pendant shade is discontinued. Medium remains available.",
            received_at=self.ago(days=9),
        )
        SupplierUpdate.objects.create(
            supplier=s["copperline"],
            product=self.by_sku["POUROVER"],
            kind=SupplierUpdate.Kind.DISPATCH_CLAIM,
            stock_status=SupplierUpdate.StockStatus.IN_STOCK,
            strength=SupplierUpdate.Strength.WEAK,
            strength_reason="Claimed dispatch without a tracking number.",
            source_text="Pour-over sets went out on Monday.",
            received_at=self.ago(days=11),
        )
        SupplierUpdate.objects.create(
            supplier=s["alpine"],
            product=self.by_sku["THERMOS-750ML"],
            kind=SupplierUpdate.Kind.PICKUP_PROOF,
            stock_status=SupplierUpdate.StockStatus.IN_STOCK,
            strength=SupplierUpdate.Strength.CONFIRMED,
            tracking_number="1ZALPINE0000042",
            dispatched_at=self.ago(days=1),
            source_text="Picked up by UPS this morning, tracking 1ZALPINE0000042, 60 units.",
            received_at=self.ago(days=1),
        )

    def build_purchase_history(self) -> None:
        """A year of purchase orders: the quotes and the real arrival dates the ETA model learns from."""
        habits = {"northwind": (0, 1), "harbor": (1, 3), "copperline": (6, 7), "alpine": (0, 2), "lumen": (2, 5)}
        by_supplier = defaultdict(list)
        for source in SupplierSource.objects.filter(role="primary").select_related("supplier"):
            by_supplier[source.supplier.code].append(source.product)
        n = 0
        for code, (mean_late, spread) in habits.items():
            for k in range(10):
                ordered = self.ago(days=360 - k * 33 - self.rng.randint(0, 10))
                quoted = (ordered + timedelta(days=self.rng.choice([10, 14, 21]))).date()
                late = max(-2, round(self.rng.gauss(mean_late, spread)))
                received = datetime.combine(quoted + timedelta(days=late), time(14), tzinfo=UTC)
                po = PurchaseOrder.objects.create(
                    supplier=self.suppliers[code],
                    reference=f"PO-{2025_000 + n}",
                    status=PurchaseOrder.Status.RECEIVED,
                    ordered_at=ordered,
                    quoted_at=quoted,
                    received_at=max(received, ordered + timedelta(days=1)),
                )
                product = self.rng.choice(by_supplier[code])
                PurchaseOrderLine.objects.create(
                    purchase_order=po, product=product, quantity=40, received_quantity=40, unit_cost=product.cost
                )
                n += 1
        # open orders for the short products
        for sku, code, days_ago, quote_in in [
            ("THROW-RUST", "harbor", 9, 12),
            ("POUROVER", "copperline", 20, -3),
            ("THERMOS-750ML", "alpine", 6, 2),
        ]:
            po = PurchaseOrder.objects.create(
                supplier=self.suppliers[code],
                reference=f"PO-{2026_000 + n}",
                status=PurchaseOrder.Status.SENT,
                ordered_at=self.ago(days=days_ago),
                quoted_at=(self.now + timedelta(days=quote_in)).date(),
            )
            PurchaseOrderLine.objects.create(
                purchase_order=po, product=self.by_sku[sku], quantity=60, unit_cost=self.by_sku[sku].cost
            )
            n += 1
