"""Shared helpers for every source: signatures, safe JSON, ids, times, and storing deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import WebhookDelivery

logger = logging.getLogger("backorders.intake")

# Headers never kept with a delivery: they carry the sender's or a browser's credentials.
_DROPPED_HEADERS = {"cookie", "authorization", "proxy-authorization"}


class MappingError(Exception):
    """A payload that verified and parsed but cannot be turned into facts; kept as failed for replay."""


class BadPayload(Exception):
    """A body that is not what the source sends (not JSON, not an object); answered with 400."""


# --------------------------------------------------------------------------- signatures


def hmac_sha256(secret: str | bytes, body: bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).digest()


def matches_base64_hmac(secrets: list[str], body: bytes, signature: str) -> bool:
    """True when ``signature`` is base64(HMAC-SHA256(secret, body)) for one of ``secrets``."""
    if not signature:
        return False
    given = signature.strip().encode()
    ok = False
    for secret in secrets:
        expected = base64.b64encode(hmac_sha256(secret, body))
        # every secret is compared, so the time taken does not tell which one matched
        ok |= hmac.compare_digest(expected, given)
    return ok


# --------------------------------------------------------------------------- payload values


def loads(body: bytes) -> dict:
    """Parse a JSON object exactly: integers stay integers (ids pass 2**53), decimals stay Decimal."""
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadPayload(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadPayload("body is JSON nested too deeply to read") from None
    if not isinstance(data, dict):
        raise BadPayload(f"body is JSON but not an object (got {type(data).__name__})")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def ext_id(value: Any) -> str:
    """A channel id as text. Integers and digit strings pass; a float never does (it lost digits)."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise MappingError(f"an id cannot be {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise MappingError(f"id {value!r} is not an integer or a string; refusing a value that may have lost digits")


def to_decimal(value: Any, *, field: str, default: Decimal | None = Decimal("0.00")) -> Decimal:
    if value is None or value == "":
        if default is None:
            raise MappingError(f"{field} is missing")
        return default
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise MappingError(f"{field} {value!r} is not a number") from None


def to_int(value: Any, *, field: str) -> int:
    if isinstance(value, bool):
        raise MappingError(f"{field} {value!r} is not a whole number")
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MappingError(f"{field} {value!r} is not a whole number") from None
    if number != number.to_integral_value():
        raise MappingError(f"{field} {value!r} is not a whole number")
    return int(number)


def to_datetime(value: Any, *, field: str, naive_is_utc: bool = True, required: bool = False) -> datetime | None:
    """ISO 8601 to an aware datetime. Naive values are UTC (WooCommerce's ``*_gmt`` fields)."""
    if value in (None, ""):
        if required:
            raise MappingError(f"{field} is missing")
        return None
    parsed = parse_datetime(str(value).strip().replace("Z", "+00:00")) if isinstance(value, str) else None
    if parsed is None:
        raise MappingError(f"{field} {value!r} is not a date and time")
    if timezone.is_naive(parsed):
        if not naive_is_utc:
            raise MappingError(f"{field} {value!r} has no time zone")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def text(value: Any, limit: int) -> str:
    return "" if value is None else str(value).strip()[:limit]


# --------------------------------------------------------------------------- storing deliveries


def request_headers(request: HttpRequest) -> dict[str, str]:
    """The request's headers with lower-case names (the way HTTP treats them), minus credentials."""
    return {name.lower(): value for name, value in request.headers.items() if name.lower() not in _DROPPED_HEADERS}


def store_rejected(
    source: str, request: HttpRequest, *, reason: str, topic: str = "", signature_valid: bool = False
) -> WebhookDelivery:
    """Keep a delivery that failed verification or parsing: the row is the audit record.

    Its headers, size and hash are kept, never its body: anyone can post, and a stranger's
    bodies must not fill the database (nor hold personal data nobody can use)."""
    delivery = WebhookDelivery.objects.create(
        source=source,
        topic=topic[:64],
        body_sha256=WebhookDelivery.hash_body(request.body),
        headers=request_headers(request),
        body=b"",
        body_size=len(request.body),
        signature_valid=signature_valid,
        status=WebhookDelivery.Status.REJECTED,
        error=reason,
        processed_at=timezone.now(),
    )
    logger.warning(
        "Rejected %s delivery %s from %s: %s", source, delivery.pk, request.META.get("REMOTE_ADDR", "?"), reason
    )
    return delivery


def store_oversized(source: str, request: HttpRequest, *, size: int) -> WebhookDelivery:
    """Keep the attempt of a body above ``WEBHOOK_MAX_BYTES``: headers and size, never the body."""
    reason = f"body of {size} bytes is larger than the {settings.WEBHOOK_MAX_BYTES}-byte limit; the body was not kept"
    delivery = WebhookDelivery.objects.create(
        source=source,
        body_sha256="",
        headers=request_headers(request),
        body=b"",
        body_size=size,
        status=WebhookDelivery.Status.REJECTED,
        error=reason,
        processed_at=timezone.now(),
    )
    logger.warning(
        "Rejected %s delivery %s from %s: %s", source, delivery.pk, request.META.get("REMOTE_ADDR", "?"), reason
    )
    return delivery


def declared_size(request: HttpRequest) -> int:
    """The body's size as the sender declared it; the WSGI server reads no more than that."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def oversized(source: str, request: HttpRequest) -> HttpResponse | None:
    """413 (kept as rejected, without the body) when the body is larger than ``WEBHOOK_MAX_BYTES``.

    Checked before anything reads the body, so a huge body is never loaded into memory.
    """
    size = declared_size(request)
    if size <= settings.WEBHOOK_MAX_BYTES:
        return None
    delivery = store_oversized(source, request, size=size)
    return HttpResponse(f"Rejected: {delivery.error}.", status=413, content_type="text/plain")


def content_type_problem(request: HttpRequest) -> str:
    """Why the body is not declared as JSON (every source sends ``application/json``); empty when it is."""
    declared = request.content_type or ""
    if declared.lower() == "application/json":
        return ""
    return f"Content-Type must be application/json, got {declared or 'none'!r}"


def store_verified(
    source: str,
    request: HttpRequest,
    *,
    topic: str,
    delivery_id: str = "",
    resource_id: str = "",
    resource_updated_at: datetime | None = None,
    status: str = WebhookDelivery.Status.RECEIVED,
    error: str = "",
) -> tuple[WebhookDelivery, bool]:
    """Keep a verified delivery, or recognise it as one already kept. Returns (delivery, is_new).

    A delivery is a duplicate when the sender's id was seen before, or when the same body
    arrived for the same topic (a retry re-sends the original payload). A duplicate is kept
    too, with status duplicate and without the id, so the record shows every attempt; only the
    first is processed. A re-send of a first copy that failed or still waits is not answered as a
    duplicate: that first copy is queued again (``received``) and returned as new. New deliveries
    are enqueued after commit.
    """
    body_sha256 = WebhookDelivery.hash_body(request.body)
    headers = request_headers(request)
    with transaction.atomic():
        first = _first_copy(source, topic, delivery_id, body_sha256)
        if first is None and status == WebhookDelivery.Status.RECEIVED:
            try:
                with transaction.atomic():
                    delivery = WebhookDelivery.objects.create(
                        source=source,
                        topic=topic[:64],
                        delivery_id=delivery_id[:128],
                        body_sha256=body_sha256,
                        headers=headers,
                        body=request.body,
                        body_size=len(request.body),
                        signature_valid=True,
                        resource_id=resource_id[:64],
                        resource_updated_at=resource_updated_at,
                    )
            except IntegrityError:
                # the same delivery id arrived at the same moment on another connection
                first = _first_copy(source, topic, delivery_id, body_sha256)
            else:
                enqueue_delivery(delivery.pk)
                return delivery, True
        again = first is not None and _apply_again(first)
        duplicate = WebhookDelivery.objects.create(
            source=source,
            topic=topic[:64],
            body_sha256=body_sha256,
            headers=headers,
            body=request.body,
            body_size=len(request.body),
            signature_valid=True,
            status=WebhookDelivery.Status.DUPLICATE if first else status,
            error=(f"re-sent: delivery {first.pk} is applied again" if again else f"duplicate of delivery {first.pk}")
            if first
            else error,
            resource_id=resource_id[:64],
            resource_updated_at=resource_updated_at,
            processed_at=timezone.now(),
        )
    if again:
        first.refresh_from_db(fields=["status", "error"])
        return first, True
    return duplicate, False


def _apply_again(first: WebhookDelivery) -> bool:
    """A re-send of a delivery that failed or waits: queue the kept copy again. True when it was."""
    again = (WebhookDelivery.Status.FAILED, WebhookDelivery.Status.WAITING)
    if first.status not in again:
        return False
    if not WebhookDelivery.objects.filter(pk=first.pk, status__in=again).update(
        status=WebhookDelivery.Status.RECEIVED, retry_at=None
    ):
        return False  # taken by a worker meanwhile
    enqueue_delivery(first.pk)
    return True


def _first_copy(source: str, topic: str, delivery_id: str, body_sha256: str) -> WebhookDelivery | None:
    kept = WebhookDelivery.objects.filter(source=source, signature_valid=True).exclude(
        status=WebhookDelivery.Status.DUPLICATE
    )
    if delivery_id:
        found = kept.filter(delivery_id=delivery_id).order_by("pk").first()
        if found is not None:
            return found
    return kept.filter(topic=topic[:64], body_sha256=body_sha256).order_by("pk").first()


def q_options() -> dict:
    """Run a task inline when the settings ask for it now (tests override ``Q_CLUSTER``)."""
    return {"sync": True} if settings.Q_CLUSTER.get("sync") else {}


def enqueue_delivery(delivery_id: int) -> None:
    from ..queueing import enqueue_stored

    # the delivery is stored: if the broker is down, intake.process_received applies it later, and
    # the sender still gets its 200 (a 5xx would only make it send the same delivery again)
    transaction.on_commit(
        lambda: enqueue_stored(
            "backorders.tasks.process_pending",
            delivery_id,
            task_name=f"delivery-{delivery_id}",
            q_options=q_options(),
            what=f"delivery {delivery_id}",
        )
    )
