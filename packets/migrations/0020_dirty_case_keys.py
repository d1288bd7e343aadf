"""Dirty keys: the facts a change touched, written by PostgreSQL triggers in the change's transaction.

Each trigger is statement-level with a transition table, so a bulk write (COPY, ``UPDATE ... FROM
unnest``) marks its keys with one ``INSERT ... SELECT DISTINCT``, never one per row, and never
waits on another transaction (rows are appended; the sweep collapses a key's rows when it claims
them). Elsewhere (SQLite) no trigger is made and every sweep reads the whole store.
"""

from django.db import migrations, models

# (table, events, key parts): a part is (prefix, column, condition on the row or "")
MARKED = [
    ("backorders_order", ("UPDATE",), [("order:", "id", "")]),
    (
        "backorders_orderline",
        ("INSERT", "UPDATE", "DELETE"),
        [("order:", "order_id", ""), ("product:", "product_id", "")],
    ),
    ("backorders_product", ("INSERT", "UPDATE"), [("product:", "id", "")]),
    ("backorders_shipment", ("INSERT", "UPDATE", "DELETE"), [("shipment:", "id", ""), ("order:", "order_id", "")]),
    ("backorders_trackingevent", ("INSERT",), [("shipment:", "shipment_id", "")]),
    ("backorders_customer", ("UPDATE",), [("customer:", "id", "")]),
    ("backorders_storepolicy", ("INSERT", "UPDATE"), [("all", "", "")]),
    ("suppliers_supplier", ("INSERT", "UPDATE"), [("supplier:", "id", "")]),
    (
        "suppliers_suppliersource",
        ("INSERT", "UPDATE", "DELETE"),
        [("product:", "product_id", ""), ("supplier:", "supplier_id", "")],
    ),
    (
        "suppliers_supplierupdate",
        ("INSERT", "UPDATE", "DELETE"),
        [("product:", "product_id", ""), ("supplier:", "supplier_id", "")],
    ),
    ("suppliers_purchaseorder", ("INSERT", "UPDATE"), [("supplier:", "supplier_id", "")]),
    ("suppliers_purchaseorderline", ("INSERT", "UPDATE", "DELETE"), [("product:", "product_id", "")]),
    ("packets_inboundmessage", ("INSERT",), [("order:", "order_id", ""), ("customer:", "customer_id", "")]),
    ("packets_message", ("INSERT", "UPDATE"), [("order:", "order_id", "status = 'sent'")]),
]

FUNCTION = r"""
CREATE OR REPLACE FUNCTION packets_mark_dirty() RETURNS trigger AS $$
DECLARE
    parts text[] := '{}';
    i int := 0;
    expr text;
    cond text;
BEGIN
    WHILE i < TG_NARGS LOOP
        expr := CASE WHEN TG_ARGV[i + 1] = '' THEN quote_literal(TG_ARGV[i])
                     ELSE quote_literal(TG_ARGV[i]) || ' || ' || quote_ident(TG_ARGV[i + 1]) END;
        cond := CASE WHEN TG_ARGV[i + 1] = '' THEN 'true' ELSE quote_ident(TG_ARGV[i + 1]) || ' IS NOT NULL' END;
        IF TG_ARGV[i + 2] <> '' THEN
            cond := cond || ' AND ' || TG_ARGV[i + 2];
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            parts := parts || format('SELECT %s FROM new_rows WHERE %s', expr, cond);
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            parts := parts || format('SELECT %s FROM old_rows WHERE %s', expr, cond);
        END IF;
        i := i + 3;
    END LOOP;
    EXECUTE 'INSERT INTO packets_dirtycasekey (key, due_at) SELECT DISTINCT k, ''1970-01-01T00:00:00Z''::timestamptz FROM ('
        || array_to_string(parts, ' UNION ALL ') || ') AS marked(k)';
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- an order whose status moved (cancelled, shipped) changes what waits on each of its products
CREATE OR REPLACE FUNCTION packets_mark_order_products() RETURNS trigger AS $$
BEGIN
    INSERT INTO packets_dirtycasekey (key, due_at)
    SELECT DISTINCT 'product:' || l.product_id, '1970-01-01T00:00:00Z'::timestamptz
    FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN backorders_orderline l ON l.order_id = n.id
    WHERE n.status IS DISTINCT FROM o.status;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

REFERENCING = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def _triggers() -> list[tuple[str, str, str]]:
    """(trigger name, table, CREATE statement) for every marked table and event."""
    made = []
    for table, events, parts in MARKED:
        args = ", ".join("'" + value.replace("'", "''") + "'" for part in parts for value in part)
        for event in events:
            name = f"{table}_dirty_{event.lower()}"
            made.append(
                (
                    name,
                    table,
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {REFERENCING[event]} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION packets_mark_dirty({args})",
                )
            )
    made.append(
        (
            "backorders_order_dirty_status",
            "backorders_order",
            "CREATE TRIGGER backorders_order_dirty_status AFTER UPDATE ON backorders_order "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION packets_mark_order_products()",
        )
    )
    return made


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for name, table, statement in _triggers():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, _ in _triggers():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS packets_mark_dirty(); DROP FUNCTION IF EXISTS packets_mark_order_products();"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("packets", "0019_slack_links"),
        ("backorders", "0017_stock_locations"),
        ("suppliers", "0004_purchase_orders_sent"),
    ]

    operations = [
        migrations.CreateModel(
            name="DirtyCaseKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=64)),
                ("due_at", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["due_at", "id"], name="dirty_key_due"),
                    models.Index(fields=["key"], name="dirty_key_key"),
                ],
            },
        ),
        migrations.RunPython(create, drop),
    ]
