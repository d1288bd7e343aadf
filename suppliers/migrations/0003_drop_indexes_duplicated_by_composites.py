"""Drop single-column foreign-key indexes whose column leads a composite index.

Each composite index (named beside its index) serves every lookup the single-column one did, so the
extra index only cost writes (the bulk copy of order lines above all). Only the indexes are dropped:
the foreign-key constraints stay as they are, so nothing is re-validated and no table is rewritten.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("suppliers", "0002_one_purchase_order_proposal_per_supplier"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="purchaseorder",
                    name="supplier",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchase_orders",
                        to="suppliers.supplier",
                    ),
                ),
                migrations.AlterField(
                    model_name="purchaseorderline",
                    name="purchase_order",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="suppliers.purchaseorder",
                    ),
                ),
                migrations.AlterField(
                    model_name="suppliersource",
                    name="supplier",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sources",
                        to="suppliers.supplier",
                    ),
                ),
                migrations.AlterField(
                    model_name="supplierupdate",
                    name="supplier",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="updates",
                        to="suppliers.supplier",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "suppliers_purchaseorder_supplier_id_398b3921"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "suppliers_purchaseorder_supplier_id_398b3921" ON "suppliers_purchaseorder" ("supplier_id")',
                ),  # covered by po_supplier_ordered
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "suppliers_purchaseorderline_purchase_order_id_993183e0"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "suppliers_purchaseorderline_purchase_order_id_993183e0" ON "suppliers_purchaseorderline" ("purchase_order_id")',
                ),  # covered by po_line_unique_product
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "suppliers_suppliersource_supplier_id_750676a1"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "suppliers_suppliersource_supplier_id_750676a1" ON "suppliers_suppliersource" ("supplier_id")',
                ),  # covered by source_unique_supplier_product
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "suppliers_supplierupdate_supplier_id_9ec2ab19"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "suppliers_supplierupdate_supplier_id_9ec2ab19" ON "suppliers_supplierupdate" ("supplier_id")',
                ),  # covered by update_latest
            ],
        ),
    ]
