"""Drop single-column foreign-key indexes whose column leads a composite index.

Each composite index (named beside its index) serves every lookup the single-column one did, so the
extra index only cost writes (the bulk copy of order lines above all). Only the indexes are dropped:
the foreign-key constraints stay as they are, so nothing is re-validated and no table is rewritten.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("packets", "0011_packet_json_lz4"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="case",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="audit_events",
                        to="packets.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="case",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="packets.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="outbounddelivery",
                    name="subscription",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="packets.outboundsubscription",
                    ),
                ),
                migrations.AlterField(
                    model_name="packet",
                    name="case",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="packets",
                        to="packets.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="storeaction",
                    name="decision",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="store_actions",
                        to="packets.decision",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "packets_auditevent_case_id_8215f46a"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "packets_auditevent_case_id_8215f46a" ON "packets_auditevent" ("case_id")',
                ),  # covered by audit_case_at
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "packets_message_case_id_95bd600b"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "packets_message_case_id_95bd600b" ON "packets_message" ("case_id")',
                ),  # covered by message_case_status
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "packets_outbounddelivery_subscription_id_435c8f9b"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "packets_outbounddelivery_subscription_id_435c8f9b" ON "packets_outbounddelivery" ("subscription_id")',
                ),  # covered by outbound_one_delivery_per_event
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "packets_packet_case_id_9dabc824"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "packets_packet_case_id_9dabc824" ON "packets_packet" ("case_id")',
                ),  # covered by packet_unique_version
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "packets_storeaction_decision_id_b3742d5e"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "packets_storeaction_decision_id_b3742d5e" ON "packets_storeaction" ("decision_id")',
                ),  # covered by store_action_one_per_decision_kind
            ],
        ),
    ]
