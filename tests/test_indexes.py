"""No index is kept that another index already serves.

A single-column index on a column that leads a composite (b-tree) index answers no lookup the
composite cannot, and every insert pays for it (the bulk copy of order lines above all). The
check reads the live catalogue, so a new foreign key beside a composite index fails it too.
"""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

OWN_APPS = ("backorders", "suppliers", "packets")

REDUNDANT = """
WITH idx AS (
    SELECT i.indexrelid::regclass::text AS name, c.relname AS tbl, i.indrelid, i.indkey::int2[] AS cols,
           i.indisunique AS is_unique, i.indpred IS NULL AND i.indexprs IS NULL AS plain, am.amname AS method
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    WHERE c.relname = ANY(%s)
)
SELECT single.tbl, single.name, composite.name
FROM idx single
JOIN idx composite ON composite.indrelid = single.indrelid AND composite.name <> single.name
WHERE array_length(single.cols, 1) = 1 AND NOT single.is_unique AND single.plain
  AND array_length(composite.cols, 1) > 1 AND composite.plain AND composite.method = 'btree'
  AND single.method = 'btree' AND composite.cols[0] = single.cols[0]
ORDER BY 1, 2
"""


def test_it_keeps_no_single_column_index_that_leads_a_composite_one():
    tables = [m._meta.db_table for name in OWN_APPS for m in apps.get_app_config(name).get_models()]
    assert len(tables) > 20
    with connection.cursor() as cursor:
        cursor.execute(REDUNDANT, [tables])
        redundant = cursor.fetchall()
    assert redundant == [], "single-column indexes a composite index already serves: " + ", ".join(
        f"{table}.{single} (covered by {composite})" for table, single, composite in redundant
    )


def test_the_foreign_keys_stay_enforced_and_the_composites_stay():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'backorders_orderline'::regclass"
        )
        assert cursor.fetchone()[0] == 2, "order and product foreign keys"
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'backorders_stockallocation' ORDER BY indexname"
        )
        names = [row[0] for row in cursor.fetchall()]
    assert "allocation_product_status" in names
    assert "allocation_one_open_proposal_per_product" in names, "a partial unique index sharing the column"
