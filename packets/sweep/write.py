"""Set-based writes for the sweep: one statement per kind of write, however many rows.

``update_rows`` is ``backorders.bulk.update_rows`` (``UPDATE ... FROM unnest(arrays)``, guarded
by the status the sweep read). ``insert_rows`` copies new rows in with PostgreSQL ``COPY``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connection, models

from backorders.bulk import copy_rows, object_rows, update_rows

__all__ = ["insert_rows", "update_rows"]


def insert_rows(
    model: type[models.Model], objects: Iterable[models.Model], *, prepared: dict[str, Callable] | None = None
) -> int:
    """Insert every concrete field but the primary key of each object: ``COPY`` on PostgreSQL.

    ``bulk_create`` on PostgreSQL sends each column as one array, and a multi-row ``VALUES`` is
    parsed as one statement: with large JSON documents (packets) either costs seconds per
    thousand rows, where ``COPY`` streams them. Elsewhere, ``bulk_create``. ``prepared`` maps a
    field's name to a function giving, from the object, the value ``COPY`` sends for it (a JSON
    field's text already encoded, say); the other databases save the field's own value.
    """
    objects = list(objects)
    if not objects:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return len(objects)
    names, rows = object_rows(model, objects, prepared=prepared)
    return copy_rows(model, names, rows)
