"""Applying stored deliveries: one at a time (``apply_one``) and in batches (``apply_batch``).

A batch is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (oldest first), applied in one
transaction, each delivery in a savepoint of its own: a delivery whose payload cannot be mapped,
or whose adapter breaks, rolls back only its own savepoint and is kept as ``failed`` with the
reason (for replay); the rest of the batch commits. Deliveries that bring new orders are written
together (``batch_orders``), in a savepoint of their own, and the new lines' stock is reserved
together (``batch_state``); should that write fail, those deliveries go one by one as above.

Order per order and per parcel: every delivery has ordering keys (the order it is about, the
tracking numbers it names, else its resource). A worker applying a delivery holds a transaction
advisory lock on each of its keys, taken while claiming, one claim at a time (a short session
lock). A delivery whose key another worker holds, or whose key an earlier delivery skipped in
this claim holds, is left for a later batch; within a batch deliveries run in arrival order. So two
workers never apply deliveries of the same order or parcel at once, and a later delivery never
overtakes an earlier one that some worker has claimed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import DatabaseError, DataError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..allocation_core import lock_products
from ..models import Product, WebhookDelivery
from . import batch_orders, batch_state, waiting
from .batch_orders import ORDER_TOPICS
from .common import BadPayload, MappingError, loads
from .dispatch import handle_delivery

logger = logging.getLogger("backorders.intake")

# Errors a malformed payload raises inside an adapter; the inner savepoint is rolled back first.
SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError, DataError)
PROCESSABLE = {
    WebhookDelivery.Status.RECEIVED,
    WebhookDelivery.Status.PROCESSING,
    WebhookDelivery.Status.WAITING,
    WebhookDelivery.Status.FAILED,
}
SAVED_FIELDS = [
    "attempts",
    "status",
    "error",
    "processed_at",
    "resource_id",
    "resource_updated_at",
    "waiting_for",
    "retry_at",
]
# the session lock held while a worker claims a batch (any constant; "bd" "in" in ASCII)
CLAIM_LOCK = 0x6264_696E
CLAIM_SCAN = 8  # rows looked at per claim, times the batch size (those other workers apply are left)


@dataclass
class BatchResult:
    claimed: int = 0
    left: int = 0  # claimed rows left for a later batch: another worker holds their order or parcel
    statuses: dict[str, int] = field(default_factory=dict)
    changed: bool = False


def apply_one(delivery: WebhookDelivery) -> tuple[str, bool]:
    """Apply a locked delivery inside the caller's transaction and save what processing decided.

    Returns its new status and whether it changed facts. A payload that cannot be mapped (or whose
    shape the adapter did not expect) rolls back its own savepoint and leaves the delivery ``failed``
    with the reason; one that needs a fact not kept yet waits for it. Other errors are raised.
    """
    delivery.attempts += 1
    now = timezone.now()
    before, delivery.waiting_for, delivery.retry_at = delivery.waiting_for, "", None
    changed = False
    try:
        with transaction.atomic():
            outcome = handle_delivery(delivery)
    except waiting.MissingFact as exc:
        waiting.park(delivery, str(exc), key=exc.key, now=now, before=before)
        logger.info("Delivery %s waits for %s", delivery.pk, exc.key)
    except MappingError as exc:
        delivery.status, delivery.error = WebhookDelivery.Status.FAILED, str(exc)[:2000]
        logger.warning("Delivery %s could not be mapped: %s", delivery.pk, exc)
    except SHAPE_ERRORS as exc:
        # a payload from outside whose shape the adapter did not expect (an object where
        # a list goes, a number too large for its column): failed with the reason, for replay
        reason = f"payload does not have the documented shape ({type(exc).__name__}: {exc})"
        delivery.status, delivery.error = WebhookDelivery.Status.FAILED, reason[:2000]
        logger.warning("Delivery %s could not be mapped: %s", delivery.pk, reason, exc_info=True)
    else:
        delivery.status, delivery.error = outcome.status, outcome.note[:2000]
        changed = outcome.changed and outcome.status == WebhookDelivery.Status.PROCESSED
    delivery.processed_at = timezone.now()
    # the body and headers are kept as they came: only what processing decided is written
    delivery.save(update_fields=SAVED_FIELDS)
    return delivery.status, changed


# --------------------------------------------------------------------------- ordering keys


def _number(value) -> str:
    return str(value).replace(" ", "").upper()[:128] if value not in (None, "") else ""


def ordering_keys(delivery: WebhookDelivery) -> set[str]:
    """The orders and parcels a delivery is about, read from its kept body (empty: no ordering needed)."""
    try:
        p = loads(bytes(delivery.body))
    except BadPayload:
        p = None
    keys: set[str] = set()
    if isinstance(p, dict):
        family = "shopify" if delivery.source == WebhookDelivery.Source.SHOPIFY else delivery.source
        topic = delivery.topic.lower()
        order_id = p.get("id") if topic.startswith("order") else p.get("order_id")
        if order_id not in (None, "") and not isinstance(order_id, (dict, list)):
            keys.add(f"order:{family}:{order_id}")
        numbers = [p.get("tracking_number"), p.get("tracking_code")]
        numbers += list(p.get("tracking_numbers") or []) if isinstance(p.get("tracking_numbers"), list) else []
        for inner in ("msg", "result", "data"):
            if isinstance(p.get(inner), dict):
                numbers += [p[inner].get("tracking_number"), p[inner].get("tracking_code")]
        keys |= {f"parcel:{n}" for n in map(_number, numbers) if n and not n.startswith(("{", "["))}
    if not keys and delivery.resource_id:
        keys.add(f"{delivery.source}:{delivery.resource_id}")
    return keys


def lock_keys(keys: set[str], *, wait: bool) -> bool:
    """Transaction advisory locks on ``keys`` (sorted, so two waiting workers cannot deadlock).

    SQLite (development) has one writer at a time, so there is nothing to lock there."""
    if not keys or connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            for key in sorted(keys):
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
            return True
        cursor.execute(
            "SELECT bool_and(pg_try_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest(%s::text[]) AS k",
            [sorted(keys)],
        )
        return bool(cursor.fetchone()[0])


# --------------------------------------------------------------------------- batches


def claim(size: int) -> tuple[list[WebhookDelivery], int]:
    """Inside a transaction: lock up to ``size`` received deliveries this worker may apply now, oldest first.

    Returns them in arrival order, and how many were looked at and left for later. The candidates
    are read without locks; those whose order or parcel another worker holds are left, the others'
    keys are locked, then their rows (``SKIP LOCKED``, the status checked again): a row another
    worker took meanwhile is dropped.
    """
    if connection.vendor != "postgresql":  # SQLite: one writer at a time already
        with transaction.atomic():
            return _claim(size)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [CLAIM_LOCK])
    try:
        # in a savepoint: should a statement fail, the transaction can still release the session lock
        with transaction.atomic():
            return _claim(size)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [CLAIM_LOCK])


def _claim(size: int) -> tuple[list[WebhookDelivery], int]:
    received = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED, signature_valid=True)
    oldest = received.order_by("received_at", "pk")
    chosen: list[WebhookDelivery] = []
    held_elsewhere: set[str] = set()
    left = 0
    at = 0
    while at < size * CLAIM_SCAN and len(chosen) < size:
        # as many as there are places left (read only as far as needed), their keys tried in one statement
        wanted = min(size - len(chosen), size * CLAIM_SCAN - at)
        chunk = list(oldest[at : at + wanted])
        at += wanted if len(chunk) == wanted else size * CLAIM_SCAN  # a short read: none are left
        keys = [ordering_keys(delivery) for delivery in chunk]
        free = try_lock_each(keys)
        for delivery, delivery_keys, ok in zip(chunk, keys, free, strict=True):
            if delivery_keys & held_elsewhere or not ok:
                # a lock taken for some of its keys stays until commit: harmless, only this worker holds it
                held_elsewhere |= delivery_keys
                left += 1
                continue
            chosen.append(delivery)
    locked = set(
        received.filter(pk__in=[d.pk for d in chosen]).select_for_update(skip_locked=True).values_list("pk", flat=True)
    )
    return [d for d in chosen if d.pk in locked], left


def try_lock_each(keys: list[set[str]]) -> list[bool]:
    """Try the advisory locks of each delivery's keys without waiting, in one statement: did it get them all?"""
    pairs = [(i, key) for i, delivery_keys in enumerate(keys) for key in sorted(delivery_keys)]
    if not pairs or connection.vendor != "postgresql":  # SQLite: one writer at a time already
        return [True] * len(keys)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i, bool_and(pg_try_advisory_xact_lock(hashtextextended(k, 0))) "
            "FROM unnest(%s::int[], %s::text[]) AS u(i, k) GROUP BY i",
            [[i for i, _ in pairs], [key for _, key in pairs]],
        )
        got = dict(cursor.fetchall())
    return [got.get(i, True) for i in range(len(keys))]


def products_named(deliveries: list[WebhookDelivery]) -> list[Product]:
    """The kept products the deliveries' line items name (by SKU, Shopify variant or WooCommerce id).

    The batch locks them all at its start, in id order, as a single delivery's transaction does:
    so a batch, another batch and a stock receipt take product rows in one order and never wait
    on each other in a cycle over them. Returned in the catalog's order (the batch's deliveries
    match their lines against them).
    """
    skus, variants, woo_ids = set(), set(), set()
    for delivery in deliveries:
        try:
            p = loads(bytes(delivery.body))
        except BadPayload:
            continue
        items = p.get("line_items") if isinstance(p, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("sku"), str) and item["sku"].strip():
                skus.add(item["sku"].strip()[:128])
            if item.get("variant_id") not in (None, "") and not isinstance(item["variant_id"], (dict, list)):
                variants.add(str(item["variant_id"])[:32])
            if item.get("product_id") not in (None, "") and not isinstance(item["product_id"], (dict, list)):
                woo_ids.add(str(item["product_id"])[:32])
    if not (skus or variants or woo_ids):
        return []
    named = Q(sku__in=skus) | Q(shopify_variant_id__in=variants) | Q(woocommerce_id__in=woo_ids)
    return list(Product.objects.filter(named))


def _first_to_yield() -> None:
    """Let a lock cycle between this batch and a one-off transaction (a stock receipt) roll the batch back.

    PostgreSQL aborts the transaction whose ``deadlock_timeout`` runs out first; the batch's is
    shortened, so it is the batch that is run again (``process_pending`` retries it), not the
    receipt. The setting needs a superuser or a grant (``GRANT SET ON PARAMETER deadlock_timeout``);
    without one the server's choice stands.
    """
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '100ms'")
    except DatabaseError:
        pass


def apply_batch(size: int) -> BatchResult:
    """Claim and apply one batch in one transaction. Errors other than mapping ones fail only their delivery."""
    result = BatchResult()
    with transaction.atomic():
        _first_to_yield()
        deliveries, result.left = claim(size)
        result.claimed = len(deliveries)
        catalog = products_named(deliveries)
        locked = lock_products(product.pk for product in catalog)
        with batch_state.sharing(locked, catalog):
            _apply_claimed(deliveries, result)
            batch_state.reserve_now()  # the new lines of the batch's last orders
    return result


def _apply_claimed(deliveries: list[WebhookDelivery], result: BatchResult) -> None:
    """Apply the claimed deliveries in arrival order; new order lines take their stock before anything else reads it.

    Runs of deliveries that bring new orders are written together (``batch_orders``), the others
    one by one. Only deliveries before the batch's first other kind are planned so: that one may
    change the catalog the plan matched lines against.
    """
    others = [i for i, d in enumerate(deliveries) if d.topic not in ORDER_TOPICS.get(d.source, ())]
    head = deliveries[: others[0]] if others else deliveries
    planned = batch_orders.plan(head, {d.pk: ordering_keys(d) for d in deliveries})
    run: list[WebhookDelivery] = []
    for delivery in deliveries:
        if delivery.pk in planned:
            run.append(delivery)
            continue
        _apply_run(run, planned, result)
        run = []
        if delivery.topic not in ORDER_TOPICS.get(delivery.source, ()):
            batch_state.reserve_now()
            batch_state.forget_catalog()
        _apply_single(delivery, result)
    _apply_run(run, planned, result)


def _apply_run(run: list[WebhookDelivery], planned: dict, result: BatchResult) -> None:
    """New orders written together in a savepoint; should that fail, one by one."""
    if not run:
        return
    try:
        with transaction.atomic():
            batch_orders.write(run, planned, SAVED_FIELDS)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) in ("40P01", "40001"):
            raise  # the whole transaction is lost: the caller runs the batch again
        logger.warning("New orders of deliveries %s go one by one: %s", [d.pk for d in run], exc)
        for delivery in run:
            delivery.refresh_from_db(fields=SAVED_FIELDS)
            _apply_single(delivery, result)
        return
    processed = WebhookDelivery.Status.PROCESSED
    result.statuses[processed] = result.statuses.get(processed, 0) + len(run)
    result.changed = True


def _apply_single(delivery: WebhookDelivery, result: BatchResult) -> None:
    try:
        with transaction.atomic():
            status, changed = apply_one(delivery)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) in ("40P01", "40001"):
            raise  # the whole transaction is lost: the caller runs the batch again
        logger.exception("Delivery %s failed in its batch", delivery.pk)
        status, changed = WebhookDelivery.Status.FAILED, False
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            waiting_for="",
            retry_at=None,
            processed_at=timezone.now(),
            attempts=delivery.attempts,
        )
    result.statuses[status] = result.statuses.get(status, 0) + 1
    result.changed |= changed
