"""The desk's available-to-promise, set on Shopify and WooCommerce when the desk is the stock source.

With ``STOCK_SOURCE=desk`` every transaction that locked products for a stock change (a receipt, a
count, a sale, an allocation, a cancellation) calls ``after_stock_change(product_ids)`` once it
commits (``settings.AFTER_STOCK_CHANGE``). For each product and channel that knows it (a Shopify
inventory item, a WooCommerce id) the ``ChannelStock`` row takes the new number as ``wanted``; a
row whose number changed waits for the worker, which sets the channel to it:

* Shopify: ``inventorySetQuantities`` with name ``available``, reason ``correction``, the stock
  location (``SHOPIFY_STOCK_LOCATION``, else the first selling location seen) set to the number and
  the other selling locations to zero, so the variant's sum is the number. ``changeFromQuantity``
  is null (the desk is the source of truth, as Shopify's documentation allows) and the request
  carries an ``@idempotent`` key made of the row and its sequence: a retry resends the same request
  with the same key.
* WooCommerce: ``PUT /wp-json/wc/v3/products/<id>`` with ``manage_stock`` and ``stock_quantity``;
  a variation (its parent id known from WooCommerce's product webhook) through
  ``PUT /wp-json/wc/v3/products/<parent>/variations/<id>``.

Both set an absolute number, so sending one twice changes nothing. The worker claims a row with
a conditional UPDATE (pending -> running); a throttled, unreachable or unanswered call waits and is
sent again (backoff doubling from ``STORE_ACTION_RETRY_BASE_SECONDS``, at most
``STORE_ACTION_MAX_ATTEMPTS`` attempts); a refusal fails the row with the channel's words. A newer
number that arrives meanwhile is sent after the one in flight. Every outcome is an audit row.

The oversell check: when a channel reports more units than the desk's number while nothing is
being sent, the mismatch is recorded (``stock.mismatch``, and on the row with when: the product
page shows it) and the desk's number is sent again. A failed push is sent again when an owner
asks (``retry_push``), under a new idempotency key.
A channel reporting fewer is left alone: a sale it has not told the desk about yet.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backorders.allocation import annotate_available_to_promise, available_to_promise
from backorders.channel_stock.levels import selling_levels
from backorders.models import ChannelStock, Product, ShopifyLocationLevel
from backorders.roles import is_owner

from ..leases import hand_back_due
from ..models import AuditEvent
from ..sweep.dirty import mark
from . import shopify, woocommerce
from .results import FAILED, RETRY, SUCCEEDED, UNKNOWN, CallResult, StoreCallError, failure_from

logger = logging.getLogger(__name__)

PUSH_TASK = "packets.store_actions.stock_push.push_channel_stock"
Status = ChannelStock.Status
Platform = ChannelStock.Platform

# The key is written into the document: Shopify reads it from the directive. Keys are [a-z0-9-].
SET_QUANTITIES = """mutation BackorderDeskSetStock($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: "%s") {
    inventoryAdjustmentGroup { id reason changes { name delta quantityAfterChange location { id } } }
    userErrors { field message code }
  }
}"""
STOCK_REASON = "correction"
RETRY_CODES = {"IDEMPOTENCY_CONCURRENT_REQUEST"}  # the same key still running on Shopify's side


def enqueue(row_id: int) -> None:
    from backorders.queueing import enqueue_stored

    enqueue_stored(PUSH_TASK, row_id, task_name=f"stock-push-{row_id}", what=f"stock push {row_id}")


# --------------------------------------------------------------------------- what to send


def after_stock_change(product_ids: list[int]) -> list[int]:
    """Products whose stock may have changed: set each channel row's number; queue those that changed."""
    if settings.STOCK_SOURCE != "desk":
        return []
    due = []
    with transaction.atomic():
        for product in Product.objects.filter(pk__in=product_ids).order_by("pk"):
            # the rows are locked before the number is read: of two callers, the later one reads the later number
            rows = [_locked_row(product, platform) for platform in channels_of(product)]
            if not rows:
                continue
            atp = available_to_promise(product.pk)
            due.extend(row.pk for row in rows if _set_wanted(row, product, atp))
        transaction.on_commit(lambda: [enqueue(pk) for pk in due])
    return due


def reconcile_channel_stock() -> int:
    """Scheduled: products whose number differs from what their channels were last given get it. Returns how many
    pushes it queued. Two queries find them, whatever the catalog's size; a change whose after-commit call
    was lost (a crash between commit and the call) is caught here."""
    if settings.STOCK_SOURCE != "desk":
        return 0
    given = {
        (r.product_id, r.platform): r.wanted for r in ChannelStock.objects.only("product_id", "platform", "wanted")
    }
    known = annotate_available_to_promise(Product.objects.exclude(shopify_inventory_item_id="", woocommerce_id=""))
    stale = [
        product.pk
        for product in known.only("pk", "shopify_inventory_item_id", "woocommerce_id")
        if any(given.get((product.pk, platform)) != product.available_to_promise for platform in channels_of(product))
    ]
    return len(after_stock_change(stale)) if stale else 0


def channels_of(product: Product) -> list[str]:
    found = []
    if product.shopify_inventory_item_id:
        found.append(Platform.SHOPIFY)
    if product.woocommerce_id:
        found.append(Platform.WOOCOMMERCE)
    return found


def _locked_row(product: Product, platform: str) -> ChannelStock:
    row, _ = ChannelStock.objects.get_or_create(product=product, platform=platform)
    return ChannelStock.objects.select_for_update().get(pk=row.pk)


def _set_wanted(row: ChannelStock, product: Product, atp: int) -> bool:
    """Take the desk's number; True when the row now waits to be sent (and was not already waiting)."""
    # the channel offers more than the desk has and more than it was last told (not merely a new number)
    oversold = (
        row.channel_available is not None
        and row.channel_available > atp
        and (row.pushed is None or row.channel_available > row.pushed)
        and row.status in (Status.SUCCEEDED, Status.IDLE)
        and (row.pushed_at is None or (row.channel_reported_at or row.pushed_at) >= row.pushed_at)
    )
    if row.wanted == atp and row.status in (Status.PENDING, Status.RUNNING):
        return False
    if row.wanted == atp and row.status == Status.SUCCEEDED and row.pushed == atp and not oversold:
        return False
    if row.wanted == atp and row.status == Status.FAILED:
        return False  # the same number was refused: the failure stays shown until the number changes
    if oversold:
        AuditEvent.record(
            "stock.mismatch",
            obj=row,
            summary=f"{product.sku}: {row.get_platform_display()} offers {row.channel_available}, the desk has "
            f"{atp} to promise: sending {atp} again so the channel cannot oversell",
            channel=row.channel_available,
            desk=atp,
        )
        row.mismatch_at, row.mismatch_channel, row.mismatch_desk = timezone.now(), row.channel_available, atp
        mark([f"product:{product.pk}"])  # the product's open cases show it in their packets
    was_running = row.status == Status.RUNNING
    row.wanted, row.sequence, row.attempts, row.error = atp, row.sequence + 1, 0, ""
    if not was_running:  # a running push sends this number as soon as it is done
        row.status, row.next_attempt_at = Status.PENDING, timezone.now()
    row.save()
    return not was_running


# --------------------------------------------------------------------------- the worker


def push_channel_stock(row_id: int) -> str:
    """Send one product's number to one channel. Returns what happened, in words (the queue stores it)."""
    now = timezone.now()
    claimed = ChannelStock.objects.filter(pk=row_id, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1, next_attempt_at=None
    )
    if not claimed and not _take_over(row_id, now):
        return "nothing to do: the push is not waiting to be sent"
    row = ChannelStock.objects.select_related("product").get(pk=row_id)
    sequence, wanted = row.sequence, row.wanted
    try:
        request = (_shopify_request if row.platform == Platform.SHOPIFY else _woocommerce_request)(row)
        ChannelStock.objects.filter(pk=row.pk, status=Status.RUNNING).update(request=request)
        result = _send(row.platform, request)
    except _CannotSend as exc:
        result = CallResult(FAILED, error=str(exc))
    except Exception as exc:  # a crash must not leave the row running until the lease runs out
        logger.exception("Stock push %s crashed", row_id)
        result = CallResult(UNKNOWN, error=f"{exc.__class__.__name__}: {exc}")
    return _record(row_id, sequence, wanted, result)


def _take_over(row_id: int, now) -> bool:
    """A row left running by a worker that died: taken over once the queue's timeout has passed."""
    stale = now - timedelta(seconds=int(settings.Q_CLUSTER["timeout"]))
    return bool(
        ChannelStock.objects.filter(pk=row_id, status=Status.RUNNING, started_at__lt=stale).update(
            started_at=now, attempts=F("attempts") + 1
        )
    )


class _CannotSend(Exception):
    """The request cannot be made (no location known): nothing is sent."""


def _shopify_request(row: ChannelStock) -> dict:
    product = row.product
    item = product.shopify_inventory_item_id
    if not item:
        raise _CannotSend(f"{product.sku} has no Shopify inventory item")
    levels = list(selling_levels(product).values_list("location_id", "available"))
    locations = [location for location, _ in levels] or list(settings.SHOPIFY_SELLING_LOCATIONS)
    target = settings.SHOPIFY_STOCK_LOCATION or (locations[0] if locations else "")
    if not target:
        raise _CannotSend(
            f"no Shopify location is known for {product.sku} yet: set SHOPIFY_STOCK_LOCATION, or wait for an "
            "inventory_levels/update"
        )
    quantities = [_quantity(item, target, row.wanted)]
    quantities += [_quantity(item, location, 0) for location, available in levels if location != target and available]
    key = f"backorder-desk-stock-{row.pk}-{row.sequence}"
    variables = {
        "input": {
            "name": "available",
            "reason": STOCK_REASON,
            "referenceDocumentUri": f"backorder-desk://channel-stock/{row.pk}/{row.sequence}",
            "quantities": quantities,
        }
    }
    return {"query": SET_QUANTITIES % key, "variables": variables, "key": key}


def _quantity(item: str, location: str, quantity: int) -> dict:
    return {
        "inventoryItemId": f"gid://shopify/InventoryItem/{item}",
        "locationId": f"gid://shopify/Location/{location}",
        "quantity": quantity,
        "changeFromQuantity": None,  # the desk is the source: no compare-and-set
    }


def _woocommerce_request(row: ChannelStock) -> dict:
    product_id, parent = row.product.woocommerce_id, row.product.woocommerce_parent_id
    if not product_id:
        raise _CannotSend(f"{row.product.sku} has no WooCommerce id")
    return {
        "method": "PUT",
        # a variation's stock is its own, set under its parent product
        "path": f"/products/{parent}/variations/{product_id}" if parent else f"/products/{product_id}",
        "body": {"manage_stock": True, "stock_quantity": row.wanted},
    }


def _send(platform: str, request: dict) -> CallResult:
    if platform == Platform.SHOPIFY:
        try:
            body = shopify.graphql(request["query"], request["variables"])
        except StoreCallError as exc:
            return failure_from(exc, request, mutation=True)
        payload = (body.get("data") or {}).get("inventorySetQuantities") or {}
        errors = payload.get("userErrors") or []
        if errors and all(e.get("code") in RETRY_CODES for e in errors):
            return CallResult(RETRY, request, body, shopify.user_errors_text(errors))
        if errors:
            return CallResult(FAILED, request, body, shopify.user_errors_text(errors))
        group = payload.get("inventoryAdjustmentGroup") or {}
        return CallResult(SUCCEEDED, request, body, external_ref=group.get("id", ""))
    try:
        body = woocommerce.call(request["method"], request["path"], request["body"])
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    return CallResult(SUCCEEDED, request, body, external_ref=str((body or {}).get("id", "")))


def _record(row_id: int, sequence: int, sent: int, result: CallResult) -> str:
    """Write the outcome on the row, with an audit row; queue the row again when it must be sent again."""
    now = timezone.now()
    again = False
    with transaction.atomic():
        row = ChannelStock.objects.select_for_update().select_related("product").get(pk=row_id)
        newer = row.sequence != sequence
        row.response, row.error = _jsonable(result.response), result.error[:2000]
        label = f"{row.product.sku} on {row.get_platform_display()}"
        if result.outcome == SUCCEEDED:
            if row.mismatch_at and not row.mismatch_corrected:
                mark([f"product:{row.product_id}"])  # corrected: the packets' oversell fact goes
            row.pushed, row.pushed_at, row.error = sent, now, ""
            # what the channel now offers, so its own echo of this change is no mismatch
            row.channel_available, row.channel_reported_at = sent, now
            _note_levels_set(row, result.request)
            row.status = Status.PENDING if newer else Status.SUCCEEDED
            words = f"{label}: set to {sent} available"
            action = "stock.pushed"
        elif result.outcome in (RETRY, UNKNOWN) and (newer or row.attempts < settings.STORE_ACTION_MAX_ATTEMPTS):
            # an absolute number under an idempotency key: sending it again is safe even without an answer
            row.status = Status.PENDING
            wait = result.retry_after or min(settings.STORE_ACTION_RETRY_BASE_SECONDS * 2 ** (row.attempts - 1), 3600)
            row.next_attempt_at = now if newer else now + timedelta(seconds=wait)
            words = f"{label}: {sent} not set yet ({result.error}); trying again"
            action = "stock.push_retry"
        elif newer:
            row.status, row.next_attempt_at = Status.PENDING, now
            words = f"{label}: {sent} refused ({result.error}); a newer number is sent next"
            action = "stock.push_failed"
        else:
            row.status = Status.FAILED
            tried = f" after {row.attempts} attempts" if result.outcome != FAILED else ""
            words = f"{label}: {sent} could not be set{tried}: {result.error}"
            action = "stock.push_failed"
        if row.status == Status.PENDING and row.next_attempt_at is None:
            row.next_attempt_at = now
        again = row.status == Status.PENDING and row.next_attempt_at <= now
        row.save()
        AuditEvent.record(action, obj=row, summary=words, sent=sent, attempt=row.attempts, sequence=sequence)
        if again:
            transaction.on_commit(lambda: enqueue(row_id))
    return words


def _note_levels_set(row: ChannelStock, request: dict) -> None:
    """Keep the Shopify levels this push set, as the per-location levels Shopify will report."""
    if row.platform != Platform.SHOPIFY:
        return
    for quantity in request["variables"]["input"]["quantities"]:
        ShopifyLocationLevel.objects.filter(
            product=row.product,
            inventory_item_id=quantity["inventoryItemId"].rsplit("/", 1)[-1],
            location_id=quantity["locationId"].rsplit("/", 1)[-1],
        ).update(available=quantity["quantity"])


def _jsonable(value):
    return value if isinstance(value, dict | list) or value is None else {"text": str(value)[:2000]}


def retry_push(row_id: int, user) -> ChannelStock:
    """An owner sends a failed push again: the desk's number now, under a new idempotency key."""
    if not is_owner(user):
        raise PermissionDenied("Only an owner can send a stock push again.")
    with transaction.atomic():
        row = ChannelStock.objects.select_for_update().select_related("product").get(pk=row_id)
        if row.status != Status.FAILED:
            raise ValidationError(f"Only a failed push can be sent again; this one is {row.get_status_display()}.")
        previous = row.error
        wanted = available_to_promise(row.product_id)
        row.wanted, row.sequence, row.attempts, row.error = wanted, row.sequence + 1, 0, ""
        row.status, row.next_attempt_at = Status.PENDING, timezone.now()
        row.save()
        AuditEvent.record(
            "stock.push_again",
            obj=row,
            actor=user,
            summary=f"{row.product.sku} on {row.get_platform_display()}: {wanted} sent again by hand after: {previous}",
            sent=wanted,
            sequence=row.sequence,
        )
        transaction.on_commit(lambda: enqueue(row_id))
    return row


def retry_due_pushes(limit: int = 200) -> int:
    """Scheduled: enqueue pushes whose wait has passed and pushes whose task was lost. Returns how many."""
    return hand_back_due(
        ChannelStock,
        waiting=[Status.PENDING],
        running=Status.RUNNING,
        started_field="started_at",
        enqueue=enqueue,
        limit=limit,
    )
