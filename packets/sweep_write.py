"""Set-based writes for the sweep: one statement per kind of write, however many rows."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models


def update_rows(model: type[models.Model], rows: Iterable[dict], fields: list[str]) -> int:
    """``UPDATE ... FROM (VALUES ...)``: every row's ``fields`` by its ``id``, in one statement.

    Django's ``bulk_update`` writes ``CASE WHEN id = ... THEN ...`` per field, which PostgreSQL
    evaluates row by row against every branch (quadratic on large batches). A join against a
    VALUES list is linear. Other databases fall back to ``bulk_update``.
    """
    rows = list(rows)
    if not rows:
        return 0
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        objects = [model(pk=row["id"], **{name: row[name] for name in fields}) for row in rows]
        model.objects.bulk_update(objects, fields)
        return len(rows)
    qn = connection.ops.quote_name
    pk = meta.pk
    casts = [pk.rel_db_type(connection)] + [column.db_type(connection) for column in columns]
    placeholder = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    params: list = []
    for row in rows:
        params.append(row["id"])
        params.extend(
            column.get_db_prep_save(row[name], connection) for name, column in zip(fields, columns, strict=True)
        )
    names = ", ".join(["id", *(qn(column.column) for column in columns)])
    assignments = ", ".join(f"{qn(column.column)} = v.{qn(column.column)}" for column in columns)
    # Names are quoted model metadata; every value is a parameter.
    values = ", ".join([placeholder] * len(rows))
    table, key = qn(meta.db_table), qn(pk.column)
    sql = f"UPDATE {table} AS t SET {assignments} FROM (VALUES {values}) AS v({names}) WHERE t.{key} = v.id"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert_rows(model: type[models.Model], objects: Iterable[models.Model]) -> int:
    """``INSERT ... VALUES (...), (...)`` of every concrete field but the primary key, in one statement.

    ``bulk_create`` on PostgreSQL sends each column as one array; quoting large JSON documents
    inside an array literal costs seconds per thousand packets. Row values are quoted by libpq.
    """
    objects = list(objects)
    if not objects:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return len(objects)
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    qn = connection.ops.quote_name
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list = []
    for obj in objects:
        params.extend(field.get_db_prep_save(field.pre_save(obj, add=True), connection) for field in fields)
    columns = ", ".join(qn(field.column) for field in fields)
    values = ", ".join([placeholder] * len(objects))
    sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES {values}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
