"""Set-based reads and writes that the ORM spells slowly at scale.

- ``InList("pk", ids)``: a filter on a long list of values sent as one array (``= ANY(%s)``),
  where ``pk__in=ids`` sends one parameter per value and costs Python time per value.
- ``update_rows(model, rows, fields)``: ``UPDATE ... FROM unnest(arrays)``, one statement for any
  number of rows. ``bulk_update`` writes ``CASE WHEN id = ...`` per row and column, which grows
  quadratically in the database and costs seconds of Python per ten thousand rows.
- ``insert_rows(model, columns, rows)``: ``INSERT ... SELECT FROM unnest(arrays)``, optionally
  ``ON CONFLICT DO NOTHING``, without building a model instance per row.
- ``copy_rows`` / ``copy_new``: PostgreSQL ``COPY`` of plain tuples, with ids taken from the
  table's sequence beforehand so the caller knows them.

On SQLite (the zero-setup demo) each falls back to the ORM's own bulk methods.

``paused_gc()`` holds Python's cyclic garbage collector over work that builds many long-lived
objects (an import, the sweep's snapshot).
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.db import connection, models
from django.db.models import BooleanField, Expression, F
from django.utils import timezone


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cyclic garbage collector over bulk work; reference counting still frees as usual.

    Reading a 100,000-row file or the sweep's snapshot of a large store makes millions of small
    objects that all stay alive until the work ends; the collector would walk them again and
    again (half of the time, measured) and find nothing to free. Anything cyclic left behind is
    collected once the collector runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class InList(Expression):
    """``field IN values`` with the values as one array parameter: ``WHERE id = ANY(%s::bigint[])``."""

    output_field = BooleanField()

    def __init__(self, field: str | Expression, values: Iterable):
        super().__init__()
        self.lhs = F(field) if isinstance(field, str) else field
        self.values = list(values)

    def get_source_expressions(self):
        return [self.lhs]

    def set_source_expressions(self, exprs):
        (self.lhs,) = exprs

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        clone = self.copy()
        clone.lhs = self.lhs.resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return clone

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        field = self.lhs.output_field
        # text, never varchar(n): a cast to varchar(n) would cut a longer value down until it matched
        textual = field.get_internal_type() in ("CharField", "TextField", "EmailField", "SlugField", "URLField")
        cast = "text" if textual else field.cast_db_type(connection)
        return f"{sql} = ANY(%s::{cast}[])", [*params, self.values]

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        return f"{sql} IN (SELECT value FROM json_each(%s))", [*params, json.dumps(self.values)]  # noqa: S608


def _array_type(field: models.Field) -> str:
    return field.rel_db_type(connection) if field.primary_key else field.db_type(connection)


def _column_values(field: models.Field, values: Iterable) -> list:
    """One column's values as the driver takes them in an array: JSON as its text, the rest as they are."""
    if isinstance(field, models.JSONField):
        return [json.dumps(value, cls=field.encoder) for value in values]
    return list(values)


def update_rows(
    model: type[models.Model], rows: Iterable[dict], fields: list[str], *, unless_changed: str | None = None
) -> set:
    """Write every row's ``fields`` by its ``id`` in one statement: ``UPDATE ... FROM unnest(...)``.

    ``rows`` are dicts with ``id`` and each field's attribute name (``order_id`` for a foreign key).
    With ``unless_changed="status"`` a row is written only if its status is still
    ``row["status_was"]``: whoever moved it meanwhile wins. Returns the ids written. On other
    databases, ``bulk_update`` (unguarded).
    """
    rows = list(rows)
    if not rows:
        return set()
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        objects = [
            model(pk=row["id"], **{c.attname: row[name] for name, c in zip(fields, columns, strict=True)})
            for row in rows
        ]
        model.objects.bulk_update(objects, [c.name for c in columns])
        return {row["id"] for row in rows}
    qn = connection.ops.quote_name
    guard = meta.get_field(unless_changed) if unless_changed else None
    names = ["id", *(c.column for c in columns), *(["guard"] if guard else [])]
    types = [_array_type(meta.pk), *(_array_type(c) for c in columns), *([_array_type(guard)] if guard else [])]
    arrays = [[row["id"] for row in rows]]
    for name, column in zip(fields, columns, strict=True):
        arrays.append(_column_values(column, (row[name] for row in rows)))
    if guard is not None:
        arrays.append([row[f"{unless_changed}_was"] for row in rows])
    unnest = ", ".join(f"%s::{kind}[]" for kind in types)
    assignments = ", ".join(f"{qn(c.column)} = v.{qn(c.column)}" for c in columns)
    table, key = qn(meta.db_table), qn(meta.pk.column)
    where = f"t.{key} = v.id" + (f" AND t.{qn(guard.column)} = v.guard" if guard else "")
    # Names are quoted model metadata; every value travels in an array parameter.
    sql = (
        f"UPDATE {table} AS t SET {assignments} "  # noqa: S608
        f"FROM unnest({unnest}) AS v({', '.join(qn(n) for n in names)}) WHERE {where} RETURNING t.{key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return {found for (found,) in cursor.fetchall()}


def _filled(model: type[models.Model], columns: Sequence[str]) -> tuple[list[str], list]:
    """Table columns and values for the fields ``columns`` does not name: defaults, ``auto_now`` times."""
    now = timezone.now()
    given = set(columns)
    names, values = [], []
    for f in model._meta.concrete_fields:
        if f.name in given or f.attname in given or (f.primary_key and "id" in given) or f.primary_key:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        else:
            value = f.get_default()  # the declared default, "" for text fields, else None
            if isinstance(f, models.JSONField):
                value = json.dumps(value, cls=f.encoder)
            if value is None and not f.null:
                raise ValueError(f"{model.__name__}.{f.name} needs a value")
        names.append(f.column)
        values.append(value)
    return names, values


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence], *, ignore_conflicts: bool = False
) -> int:
    """Insert ``rows`` (values in the order of ``columns``) in one statement; other fields take their defaults.

    With ``ignore_conflicts`` a row that would break a unique constraint is left out (``ON CONFLICT
    DO NOTHING``). Returns the rows written on PostgreSQL; elsewhere ``bulk_create``'s count.
    """
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        return len(model.objects.bulk_create(objects, ignore_conflicts=ignore_conflicts))
    meta = model._meta
    qn = connection.ops.quote_name
    fields = [meta.get_field(name) for name in columns]
    arrays, types = [], []
    for position, field in enumerate(fields):
        arrays.append(_column_values(field, (row[position] for row in rows)))
        types.append(_array_type(field))
    extra_names, extra_values = _filled(model, columns)
    names = [qn(field.column) for field in fields] + [qn(name) for name in extra_names]
    aliases = [f"c{position}" for position in range(len(fields))]
    select = [f"v.{alias}" for alias in aliases] + ["%s"] * len(extra_values)
    unnest = ", ".join(f"%s::{kind}[]" for kind in types)
    # Names are quoted model metadata; every value is a parameter.
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(names)}) SELECT {', '.join(select)} "  # noqa: S608
        f"FROM unnest({unnest}) AS v({', '.join(aliases)})" + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*extra_values, *arrays])
        return cursor.rowcount


def copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY ``rows`` (values in the order of ``columns``, field or attribute names) into the table.

    Fields not named take their model default; ``auto_now`` fields take the current time. PostgreSQL only.
    """
    fields = {**{f.name: f for f in model._meta.concrete_fields}, **{f.attname: f for f in model._meta.concrete_fields}}
    extra_names, extra_values = _filled(model, columns)
    names = [fields[c].column if c in fields else c for c in columns] + extra_names
    qn = connection.ops.quote_name
    sql = f"COPY {qn(model._meta.db_table)} ({', '.join(qn(n) for n in names)}) FROM STDIN"
    count = 0
    # Django's own error classes (IntegrityError, DataError), as its cursor would raise them
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row((*row, *extra_values))
            count += 1
    return count


def copy_new(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence]) -> list[int]:
    """Insert new rows and return their ids, in the order given.

    PostgreSQL: the ids are drawn from the table's sequence first, then the rows are copied in with
    them. Elsewhere: ``bulk_create``.
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create(model(**dict(zip(columns, row, strict=True))) for row in rows)
        return [obj.pk for obj in created]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, model._meta.pk.column, len(rows)],
        )
        ids = sorted(pk for (pk,) in cursor.fetchall())
    copy_rows(model, ["id", *columns], ((pk, *row) for pk, row in zip(ids, rows, strict=True)))
    return ids


def object_rows(
    model: type[models.Model], objects: Iterable[models.Model], *, prepared: dict[str, Callable] | None = None
) -> tuple[list[str], Iterator[list]]:
    """Every concrete field but the primary key of unsaved objects, as ``copy_rows`` takes them: (names, rows).

    ``auto_now`` and ``auto_now_add`` fields take the time now (``pre_save``); JSON goes as its
    text, which the column parses; decimals as the field prepares them. ``prepared`` names fields
    whose value a function gives from the object instead (JSON already encoded, for one).
    """
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    prepared = prepared or {}
    encode = [
        (lambda value, field=field: json.dumps(value, cls=field.encoder))
        if isinstance(field, models.JSONField)
        else (lambda value, field=field: field.get_db_prep_save(value, connection))
        if isinstance(field, models.DecimalField)
        else None
        for field in fields
    ]

    def row(obj) -> list:
        return [
            prepared[field.name](obj) if field.name in prepared else value if convert is None else convert(value)
            for field, value, convert in zip(
                fields, (field.pre_save(obj, add=True) for field in fields), encode, strict=True
            )
        ]

    rows = (row(obj) for obj in objects)
    return [field.attname for field in fields], rows


def copy_objects(model: type[models.Model], objects: Sequence[models.Model]) -> None:
    """Insert unsaved objects with ``copy_new`` (ids drawn first, rows copied in) and give each its id."""
    names, rows = object_rows(model, objects)
    ids = copy_new(model, names, list(rows))
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias
