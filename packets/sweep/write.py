"""Set-based writes for the sweep: one statement per kind of write, however many rows.

``update_rows`` is ``backorders.bulk.update_rows`` (``UPDATE ... FROM unnest(arrays)``, guarded
by the status the sweep read). ``insert_rows`` copies new rows in with PostgreSQL ``COPY``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connection, models

from backorders.bulk import copy_rows, update_rows

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
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    # COPY adapts plain values itself; JSON goes as its text, which the column parses
    encode = [
        (lambda value, field=field: json.dumps(value, cls=field.encoder))
        if isinstance(field, models.JSONField)
        else (lambda value, field=field: field.get_db_prep_save(value, connection))
        if isinstance(field, models.DecimalField)
        else None
        for field in fields
    ]
    rows = (
        [
            value if convert is None else convert(value)
            for value, convert in zip((field.pre_save(obj, add=True) for field in fields), encode, strict=True)
        ]
        for obj in objects
    )
    return copy_rows(model, [field.attname for field in fields], rows)
