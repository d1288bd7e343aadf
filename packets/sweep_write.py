"""Set-based writes for the sweep: one statement per kind of write, however many rows."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models


def update_rows(
    model: type[models.Model], rows: Iterable[dict], fields: list[str], *, unless_changed: str | None = None
) -> set:
    """``UPDATE ... FROM (VALUES ...)``: every row's ``fields`` by its ``id``, in one statement.

    Django's ``bulk_update`` writes ``CASE WHEN id = ... THEN ...`` per field, which PostgreSQL
    evaluates row by row against every branch (quadratic on large batches). A join against a
    VALUES list is linear. With ``unless_changed="status"``, a row is written only if its status
    is still ``row["status_was"]``: a person who moved the case meanwhile wins, and the next run
    reconciles. Returns the ids written. Other databases fall back to ``bulk_update`` (unguarded).
    """
    rows = list(rows)
    if not rows:
        return set()
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        objects = [model(pk=row["id"], **{name: row[name] for name in fields}) for row in rows]
        model.objects.bulk_update(objects, fields)
        return {row["id"] for row in rows}
    qn = connection.ops.quote_name
    pk = meta.pk
    guard = meta.get_field(unless_changed) if unless_changed else None
    casts = [pk.rel_db_type(connection)] + [column.db_type(connection) for column in columns]
    if guard is not None:
        casts.append(guard.db_type(connection))
    placeholder = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    params: list = []
    for row in rows:
        params.append(row["id"])
        params.extend(
            column.get_db_prep_save(row[name], connection) for name, column in zip(fields, columns, strict=True)
        )
        if guard is not None:
            params.append(row[f"{unless_changed}_was"])
    names = ", ".join(["id", *(qn(column.column) for column in columns), *(["guard"] if guard else [])])
    assignments = ", ".join(f"{qn(column.column)} = v.{qn(column.column)}" for column in columns)
    # Names are quoted model metadata; every value is a parameter.
    values = ", ".join([placeholder] * len(rows))
    table, key = qn(meta.db_table), qn(pk.column)
    where = f"t.{key} = v.id" + (f" AND t.{qn(guard.column)} = v.guard" if guard else "")
    sql = f"UPDATE {table} AS t SET {assignments} FROM (VALUES {values}) AS v({names}) WHERE {where} RETURNING t.{key}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {found for (found,) in cursor.fetchall()}


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
