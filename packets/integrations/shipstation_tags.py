"""ShipStation's "Backorder" tag on the orders that wait on stock, taken off once they can ship.

The ``shipstation.tags`` schedule (``sync_tags``) runs when ``SHIPSTATION_API_KEY``,
``SHIPSTATION_API_SECRET`` and ``SHIPSTATION_BACKORDER_TAG_ID`` are set. It marks on one
``PlatformTag`` row per order whether the order should carry the tag (an open order with a line
pending, partly allocated or backordered), then calls ShipStation for each row whose wish and
state differ: the order's ``orderId`` is looked up once by its number (``GET /orders?orderNumber=``),
then ``POST /orders/addtag`` or ``/orders/removetag`` with ``{orderId, tagId}``. Both calls are
idempotent on ShipStation's side, and a row is claimed before its call, so two workers do not
both send it. A refusal or no answer is kept on the row with the platform's words and tried
again with a doubling wait (up to an hour), at most ``MAX_ATTEMPTS`` times until the order's wish
changes; every change and failure is written to the audit trail, on the order's case when it has one.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from backorders.intake import platform_api
from backorders.intake.common import MappingError
from backorders.intake.shipstation import number_variants
from backorders.models import Order, OrderLine
from packets.models import AuditEvent, Case, PlatformTag

SHIPSTATION = PlatformTag.Platform.SHIPSTATION
WAITING_LINES = (OrderLine.State.PENDING, OrderLine.State.PARTIAL, OrderLine.State.BACKORDERED)
CLAIM_SECONDS = 300
# a row refused this many times in a row waits for its order to change (ShipStation may never
# have imported it); the Connections page shows the last refusal
MAX_ATTEMPTS = 8


def configured() -> bool:
    return bool(
        settings.SHIPSTATION_API_KEY and settings.SHIPSTATION_API_SECRET and settings.SHIPSTATION_BACKORDER_TAG_ID
    )


def waiting_orders():
    """Open orders with a line still waiting for units: the ones nobody should pack yet."""
    short = OrderLine.objects.filter(order=OuterRef("pk"), state__in=WAITING_LINES)
    return Order.objects.filter(Exists(short), status=Order.Status.OPEN)


def mark_wishes() -> None:
    """Bring every row's ``wanted`` in line with the orders, and add rows for newly waiting orders."""
    waiting = waiting_orders().values("pk")
    rows = PlatformTag.objects.filter(platform=SHIPSTATION)
    now = timezone.now()
    rows.filter(wanted=True).exclude(order_id__in=waiting).update(
        wanted=False, attempts=0, next_attempt_at=None, updated_at=now
    )
    rows.filter(wanted=False, order_id__in=waiting).update(
        wanted=True, attempts=0, next_attempt_at=None, updated_at=now
    )
    new = waiting_orders().exclude(platform_tags__platform=SHIPSTATION).values_list("pk", flat=True)[:1000]
    PlatformTag.objects.bulk_create(
        [PlatformTag(order_id=pk, platform=SHIPSTATION, wanted=True) for pk in new], ignore_conflicts=True
    )


def due(limit: int):
    now = timezone.now()
    return (
        PlatformTag.objects.filter(platform=SHIPSTATION)
        .exclude(wanted=F("tagged"))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), attempts__lt=MAX_ATTEMPTS)
        .select_related("order")
        .order_by("pk")[:limit]
    )


def remote_order_id(api, order: Order) -> str:
    found = platform_api.call(api, "GET", "/orders", params={"orderNumber": order.number.lstrip("#")})
    variants = number_variants(order.number)
    for candidate in (found or {}).get("orders") or []:
        if str(candidate.get("orderNumber", "")) in variants and candidate.get("orderId"):
            return str(candidate["orderId"])
    raise MappingError(f"ShipStation has no order numbered {order.number} (yet)")


def send(row: PlatformTag) -> None:
    """One row's call: look the order up when needed, then add or remove the tag. Raises on failure."""
    api = platform_api.shipstation()
    if not row.remote_order_id:
        row.remote_order_id = remote_order_id(api, row.order)
    path = "/orders/addtag" if row.wanted else "/orders/removetag"
    body = {"orderId": int(row.remote_order_id), "tagId": int(settings.SHIPSTATION_BACKORDER_TAG_ID)}
    answer = platform_api.call(api, "POST", path, body=body)
    if isinstance(answer, dict) and answer.get("success") is False:
        raise MappingError(f"ShipStation refused {path}: {answer.get('message') or 'no reason given'}")


def _case_of(order_id: int) -> Case | None:
    return Case.objects.filter(order_id=order_id).order_by("-pk").first()


def sync_row(row: PlatformTag) -> bool:
    """Claim the row, call ShipStation, record the outcome. True when the tag is now as wished."""
    now = timezone.now()
    claimed = PlatformTag.objects.filter(pk=row.pk, wanted=row.wanted, next_attempt_at=row.next_attempt_at).update(
        next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)
    )
    if not claimed:
        return False  # another worker has it, or the wish changed meanwhile
    wanted = row.wanted
    words = "Backorder tag added on ShipStation" if wanted else "Backorder tag removed on ShipStation"
    try:
        send(row)
    except MappingError as exc:  # MissingFact (no answer, try later) is one too
        attempts = row.attempts + 1
        wait = min(60 * 2 ** (attempts - 1), 3600)
        PlatformTag.objects.filter(pk=row.pk).update(
            attempts=attempts,
            error=str(exc)[:2000],
            remote_order_id=row.remote_order_id,
            next_attempt_at=timezone.now() + timedelta(seconds=wait),
            updated_at=timezone.now(),
        )
        AuditEvent.record(
            "shipstation.tag_failed",
            case=_case_of(row.order_id),
            obj=row,
            summary=f"Order {row.order.number}: {'adding' if wanted else 'removing'} the Backorder tag on "
            f"ShipStation failed ({exc}); tried again in {wait // 60 or 1} min",
            attempts=attempts,
        )
        return False
    PlatformTag.objects.filter(pk=row.pk).update(
        tagged=wanted,
        attempts=0,
        error="",
        remote_order_id=row.remote_order_id,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    AuditEvent.record(
        "shipstation.tag_added" if wanted else "shipstation.tag_removed",
        case=_case_of(row.order_id),
        obj=row,
        summary=f"Order {row.order.number}: {words}",
        remote_order_id=row.remote_order_id,
    )
    return True


def sync_tags(limit: int = 20) -> str:
    """The ``shipstation.tags`` schedule. Returns what it did, in words.

    At most ``limit`` orders a run (two calls each at most): ShipStation allows 40 calls a minute
    per API key, and the schedule runs every two minutes, so a backlog drains without 429s."""
    if not configured():
        return "ShipStation tags are not configured: set SHIPSTATION_API_KEY, _API_SECRET and _BACKORDER_TAG_ID"
    mark_wishes()
    rows = list(due(limit))
    done = sum(sync_row(row) for row in rows)
    return f"ShipStation tags: {done} of {len(rows)} due orders brought in line"
