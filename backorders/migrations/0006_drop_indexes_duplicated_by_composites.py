"""Drop single-column foreign-key indexes whose column leads a composite index.

Each composite index (named beside its index) serves every lookup the single-column one did, so the
extra index only cost writes (the bulk copy of order lines above all). Only the indexes are dropped:
the foreign-key constraints stay as they are, so nothing is re-validated and no table is rewritten.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backorders", "0005_order_number_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="orderline",
                    name="product",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="order_lines",
                        to="backorders.product",
                    ),
                ),
                migrations.AlterField(
                    model_name="shipment",
                    name="order",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="shipments",
                        to="backorders.order",
                    ),
                ),
                migrations.AlterField(
                    model_name="stockallocation",
                    name="product",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="allocations",
                        to="backorders.product",
                    ),
                ),
                migrations.AlterField(
                    model_name="trackingevent",
                    name="shipment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="backorders.shipment",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "backorders_orderline_product_id_a074ddf3"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "backorders_orderline_product_id_a074ddf3" ON "backorders_orderline" ("product_id")',
                ),  # covered by line_product_state
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "backorders_shipment_order_id_153132aa"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "backorders_shipment_order_id_153132aa" ON "backorders_shipment" ("order_id")',
                ),  # covered by shipment_unique_tracking_per_order
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "backorders_stockallocation_product_id_4f9b2915"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "backorders_stockallocation_product_id_4f9b2915" ON "backorders_stockallocation" ("product_id")',
                ),  # covered by allocation_product_status
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "backorders_trackingevent_shipment_id_843de640"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "backorders_trackingevent_shipment_id_843de640" ON "backorders_trackingevent" ("shipment_id")',
                ),  # covered by tracking_event_unique_scan
            ],
        ),
    ]
