"""On PostgreSQL the database itself refuses to update or delete an audit row."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION packets_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'packets_auditevent is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS packets_auditevent_append_only ON packets_auditevent;
CREATE TRIGGER packets_auditevent_append_only
    BEFORE UPDATE OR DELETE ON packets_auditevent
    FOR EACH ROW EXECUTE FUNCTION packets_auditevent_append_only();
"""
# TRUNCATE stays allowed: it needs table ownership, and test databases are flushed with it.

DROP = """
DROP TRIGGER IF EXISTS packets_auditevent_append_only ON packets_auditevent;
DROP FUNCTION IF EXISTS packets_auditevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("packets", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
