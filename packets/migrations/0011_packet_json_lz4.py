"""Packets' JSON compressed with lz4 rather than PostgreSQL's default pglz.

A packet version is a few kilobytes of JSON (twice that with its changes), stored out of line and
compressed. A sweep that re-versions tens of thousands of packets spent most of its write time
compressing them: lz4 halves that and reads back faster. Only new values are affected. Servers
built without lz4 (and other databases) keep their default.
"""

from django.db import migrations

FORWARD = """
DO $$
BEGIN
    ALTER TABLE packets_packet ALTER COLUMN content SET COMPRESSION lz4, ALTER COLUMN changes SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server: packets keep the default compression';
END
$$;
"""
BACKWARD = "ALTER TABLE packets_packet ALTER COLUMN content SET COMPRESSION DEFAULT, ALTER COLUMN changes SET COMPRESSION DEFAULT"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("packets", "0010_zendesk_tickets")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
