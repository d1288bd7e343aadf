"""Dirty keys: what changed since the sweep last read it, and how far a change reaches.

Database triggers (migration ``packets.0018``) write a fact's key in the transaction of the
change: ``order:<id>`` (the order, its lines, its parcels, a reply or a sent message),
``product:<id>`` (stock, allocation, supplier evidence, sources, purchase order lines),
``shipment:<id>`` (the parcel and its scans), ``supplier:<id>`` (the supplier, its updates and
purchase orders), ``customer:<id>`` and ``all`` (the store policy). A decision writes its case's
dedupe key (``mark_cases``) and the sweep's clock writes a case's key with the time its facts read
differently by time alone (``packets.sweep.clock``).

``claim`` takes a batch of due rows with ``FOR UPDATE SKIP LOCKED`` (a row another run holds is
left to it) and deletes every due row of the claimed keys in the same transaction, so a crash
leaves them for the next run. ``expand`` turns the claimed keys into the cases they reach (a
product's stock reaches every order waiting on it and on its replacements; a supplier reaches
the products it sources and the parcels it ships) and the facts to read for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Q

from backorders.bulk import InList
from backorders.models import Order, OrderLine, Product, Shipment
from packets.models import Case, DirtyCaseKey
from packets.sweep.load import WAITING_STATES, Scope, candidate_shipments
from suppliers.models import Supplier, SupplierSource

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a change is due at once, whatever "now" a run is given
KEY_LOCKS = 0x5EEA  # the advisory-lock class of the case keys a run rebuilds
ALL = "all"


def mark(keys: Iterable[str], due_at: datetime = EPOCH) -> None:
    """Write keys as dirty (due at ``due_at``) in the caller's transaction: one statement."""
    keys = sorted(set(keys))
    if keys:
        DirtyCaseKey.objects.bulk_create([DirtyCaseKey(key=key, due_at=due_at) for key in keys])


def mark_cases(case_ids: Iterable[int]) -> None:
    """A person or the customer acted on these cases: their keys are dirty (one statement)."""
    ids = sorted(set(case_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DirtyCaseKey._meta.db_table} (key, due_at) "  # noqa: S608
            f"SELECT DISTINCT dedupe_key, %s FROM {Case._meta.db_table} WHERE id IN ({', '.join(['%s'] * len(ids))})",
            [EPOCH, *ids],
        )


class Claimed(list):
    """The claimed keys, sorted; ``more``: the batch came back full, so more rows may be due."""

    def __init__(self, keys: Iterable[str], *, more: bool):
        super().__init__(keys)
        self.more = more


def claim(now: datetime, batch: int) -> Claimed:
    """Due keys from up to ``batch`` due rows no other run holds, all their due rows deleted (two statements).

    Only on PostgreSQL: the rows stay locked, and gone for everyone else, until the caller's
    transaction ends; a rollback puts them back.
    """
    table = DirtyCaseKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT key FROM {table} WHERE due_at <= %s ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED",  # noqa: S608
            [now, batch],
        )
        rows = cursor.fetchall()
        keys = sorted({row[0] for row in rows})
        if keys:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "  # noqa: S608
                "WHERE key = ANY(%s::text[]) AND due_at <= %s FOR UPDATE SKIP LOCKED)",
                [keys, now],
            )
    return Claimed(keys, more=len(rows) >= batch)


def lock_keys(keys: Iterable[str]) -> None:
    """Hold each case key for this transaction (one statement, in one global order: no deadlock).
    Two runs that reach the same case rebuild it one after the other, never side by side."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, h)) FROM "
            "(SELECT DISTINCT hashtext(k) AS h FROM unnest(%s::text[]) AS k ORDER BY h) AS ordered",
            [KEY_LOCKS, sorted(keys)],
        )


def clear_due(now: datetime) -> None:
    """A full run reads everything: every due row is done (nothing written when none is due)."""
    due = DirtyCaseKey.objects.filter(due_at__lte=now)
    if due.exists():
        due.delete()


def _ids(keys: Iterable[str], prefix: str) -> set[int]:
    return {int(key[len(prefix) :]) for key in keys if key.startswith(prefix)}


def expand(keys: Iterable[str], now: datetime) -> Scope:
    """The cases the claimed keys reach, and the facts to read for them: a fixed number of queries."""
    keys = set(keys)
    orders = _ids(keys, "order:") | _ids(keys, "backorder:order:")
    changed_products = _ids(keys, "product:")  # their facts changed: every case quoting them
    products = _ids(keys, "stockout:product:")  # their own case only
    shipments = _ids(keys, "shipment:") | _ids(keys, "tracking:shipment:")
    changed_suppliers = _ids(keys, "supplier:")
    suppliers = _ids(keys, "silence:supplier:")

    if customers := _ids(keys, "customer:"):
        orders |= set(Order.objects.filter(InList("customer_id", customers)).values_list("id", flat=True))
    if changed_suppliers:
        changed_products |= set(
            SupplierSource.objects.filter(InList("supplier_id", changed_suppliers)).values_list("product_id", flat=True)
        )
        names = list(Supplier.objects.filter(InList("id", changed_suppliers)).values_list("name", flat=True))
        by_name = Q()
        for name in names:
            by_name |= Q(supplier_name__iexact=name)
        if names:
            shipments |= set(candidate_shipments(now).filter(by_name).values_list("id", flat=True))
        suppliers |= changed_suppliers
    if changed_products:
        # replacements are offered by title: a product's stock reaches the orders of its siblings
        titles = Product.objects.filter(InList("id", changed_products)).values("title")
        changed_products |= set(Product.objects.filter(title__in=titles).values_list("id", flat=True))
        orders |= set(
            OrderLine.objects.filter(InList("product_id", changed_products), state__in=WAITING_STATES).values_list(
                "order_id", flat=True
            )
        )
    products |= changed_products
    if orders:
        products |= set(
            OrderLine.objects.filter(InList("order_id", orders), state__in=WAITING_STATES).values_list(
                "product_id", flat=True
            )
        )
        # every parcel of the order, candidate or not: a cancelled order's parcels leave the view
        shipments |= set(Shipment.objects.filter(InList("order_id", orders)).values_list("id", flat=True))
    primaries = SupplierSource.objects.filter(active=True, role=SupplierSource.Role.PRIMARY)
    if products:
        suppliers |= set(primaries.filter(InList("product_id", products)).values_list("supplier_id", flat=True))
    read_products = set(products)
    if suppliers:  # a silence case counts what waits on each product the supplier is primary for
        read_products |= set(primaries.filter(InList("supplier_id", suppliers)).values_list("product_id", flat=True))
    case_keys = (
        {f"backorder:order:{pk}" for pk in orders}
        | {f"stockout:product:{pk}" for pk in products}
        | {f"tracking:shipment:{pk}" for pk in shipments}
        | {f"silence:supplier:{pk}" for pk in suppliers}
    )
    return Scope(
        keys=frozenset(case_keys),
        orders=frozenset(orders),
        products=frozenset(read_products),
        shipments=frozenset(shipments),
    )
