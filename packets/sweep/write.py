"""Set-based writes for the sweep: one statement per kind of write, however many rows.

``update_rows`` is ``backorders.bulk.update_rows`` (``UPDATE ... FROM unnest(arrays)``, guarded
by the status the sweep read). ``insert_rows`` copies new rows in with PostgreSQL ``COPY``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models

from backorders.bulk import copy_rows, object_rows, update_rows

__all__ = ["insert_rows", "update_rows"]


def insert_rows(model: type[models.Model], objects: Iterable[models.Model]) -> int:
    """Insert every concrete field but the primary key of each object: ``COPY`` on PostgreSQL.

    ``bulk_create`` on PostgreSQL sends each column as one array, and a multi-row ``VALUES`` is
    parsed as one statement: with large JSON documents (packets) either costs seconds per
    thousand rows, where ``COPY`` streams them. Elsewhere, ``bulk_create``.
    """
    objects = list(objects)
    if not objects:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return len(objects)
    names, rows = object_rows(model, objects)
    return copy_rows(model, names, rows)
