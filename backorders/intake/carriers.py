"""Carrier tracking webhooks: AfterShip, EasyPost and Shippo, normalized to ``TrackingStatus``.

Each provider's own status stays on ``TrackingEvent.raw_status`` (and its sub-status on
``raw_substatus``). A status this code does not know becomes ``unknown``; it never fails.

Signatures:
- AfterShip: ``aftership-hmac-sha256`` = base64(HMAC-SHA256(secret, body)).
- EasyPost: ``X-Hmac-Signature: hmac-sha256-hex=<hex>`` over the body, with the secret
  normalised to Unicode NFKD first (as EasyPost's client libraries do).
- Shippo: ``Shippo-Auth-Signature: t=<unix seconds>,v1=<hex>``, the hex HMAC-SHA256 of
  ``"<t>.<body>"`` with the key Shippo shares (``SHIPPO_WEBHOOK_HMAC_SECRET``), at most five
  minutes old. Without a signature, the fallback is a secret token on the URL registered with
  Shippo, ``/webhooks/carriers/shippo/?token=<SHIPPO_WEBHOOK_SECRET>``, compared in constant time;
  the product's logs show it as ``token=[redacted]`` (``config.logging.redact``), but a proxy in
  front may log it in full. A signature that is present but wrong is refused, token or not.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import unicodedata

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from ..models import TrackingStatus, WebhookDelivery
from .common import MappingError, matches_base64_hmac, text, to_datetime
from .outcome import Outcome
from .tracking import EventFacts, location_text, record_events, shipments_for
from .waiting import MissingFact

S = TrackingStatus

AFTERSHIP_TAGS = {
    "pending": S.UNKNOWN,
    "inforeceived": S.LABEL_CREATED,
    "intransit": S.IN_TRANSIT,
    "outfordelivery": S.OUT_FOR_DELIVERY,
    "attemptfail": S.ATTEMPTED,
    "availableforpickup": S.AVAILABLE_FOR_PICKUP,
    "exception": S.EXCEPTION,
    "delivered": S.DELIVERED,
    "expired": S.EXPIRED,
}
AFTERSHIP_SUBTAGS = {
    "intransit_002": S.ACCEPTED,  # acceptance scan
    "exception_011": S.RETURNED,  # returned to sender
}

EASYPOST_STATUS = {
    "unknown": S.UNKNOWN,
    "pre_transit": S.LABEL_CREATED,
    "in_transit": S.IN_TRANSIT,
    "out_for_delivery": S.OUT_FOR_DELIVERY,
    "delivered": S.DELIVERED,
    "available_for_pickup": S.AVAILABLE_FOR_PICKUP,
    "return_to_sender": S.RETURNED,
    "failure": S.EXCEPTION,
    "cancelled": S.EXCEPTION,
    "error": S.UNKNOWN,
}
EASYPOST_DETAIL = {"delivery_attempt": S.ATTEMPTED, "arrived_at_pickup_location": S.AVAILABLE_FOR_PICKUP}

SHIPPO_STATUS = {
    "pre_transit": S.LABEL_CREATED,
    "transit": S.IN_TRANSIT,
    "delivered": S.DELIVERED,
    "returned": S.RETURNED,
    "failure": S.EXCEPTION,
    "unknown": S.UNKNOWN,
}
SHIPPO_SUBSTATUS = {
    "out_for_delivery": S.OUT_FOR_DELIVERY,
    "delivery_attempted": S.ATTEMPTED,
    "pickup_available": S.AVAILABLE_FOR_PICKUP,
    "package_accepted": S.ACCEPTED,
}


def aftership_status(tag, subtag=None) -> str:
    key = str(subtag or "").strip().lower()
    return AFTERSHIP_SUBTAGS.get(key) or AFTERSHIP_TAGS.get(str(tag or "").strip().lower(), S.UNKNOWN)


def easypost_status(status, detail=None) -> str:
    mapped = EASYPOST_STATUS.get(str(status or "").strip().lower(), S.UNKNOWN)
    return EASYPOST_DETAIL.get(str(detail or "").strip().lower(), mapped) if mapped == S.IN_TRANSIT else mapped


def shippo_status(status, substatus=None) -> str:
    mapped = SHIPPO_STATUS.get(str(status or "").strip().lower(), S.UNKNOWN)
    return SHIPPO_SUBSTATUS.get(str(substatus or "").strip().lower(), mapped) if mapped == S.IN_TRANSIT else mapped


# --------------------------------------------------------------------------- verification


def verify_aftership(request: HttpRequest) -> bool:
    secret = settings.AFTERSHIP_WEBHOOK_SECRET
    return bool(secret) and matches_base64_hmac(
        [secret], request.body, request.headers.get("aftership-hmac-sha256", "")
    )


def verify_easypost(request: HttpRequest) -> bool:
    secret = settings.EASYPOST_WEBHOOK_SECRET
    given = request.headers.get("X-Hmac-Signature", "").strip()
    if not secret or not given.startswith("hmac-sha256-hex="):
        return False
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    expected = "hmac-sha256-hex=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.lower().encode())


SHIPPO_SIGNATURE_TOLERANCE = 300  # seconds either way, as Standard Webhooks and Stripe-style schemes use


def verify_shippo(request: HttpRequest) -> bool:
    signature = request.headers.get("Shippo-Auth-Signature", "").strip()
    if signature:
        return _shippo_signature_ok(settings.SHIPPO_WEBHOOK_HMAC_SECRET, request.body, signature)
    token = settings.SHIPPO_WEBHOOK_SECRET
    given = request.GET.get("token", "")
    return bool(token) and bool(given) and hmac.compare_digest(token.encode(), given.encode())


def _shippo_signature_ok(secret: str, body: bytes, header: str) -> bool:
    if not secret:
        return False
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name.strip(), []).append(value.strip())
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit() or len(stamps[0]) > 12:
        return False
    if abs(time.time() - int(stamps[0])) > SHIPPO_SIGNATURE_TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest().encode()
    ok = False
    for given in fields.get("v1", []):
        ok |= hmac.compare_digest(expected, given.lower().encode())
    return ok


# --------------------------------------------------------------------------- mapping


def _apply(tracking_number: str, events: list[EventFacts], *, source: str, carrier: str = "") -> Outcome:
    if not tracking_number:
        raise MappingError("the payload names no tracking number")
    shipments = list(shipments_for(tracking_number))
    if not shipments:
        raise MissingFact(
            "tracking",
            tracking_number.replace(" ", "").strip(),
            f"no shipment has tracking number {tracking_number} yet (applied when its order ships)",
        )
    new = 0
    for shipment in shipments:
        if carrier and not shipment.carrier:
            shipment.carrier = carrier[:64]
            shipment.save(update_fields=["carrier", "updated_at"])
        new += record_events(shipment, events, source=source)
    return Outcome(note=f"{tracking_number}: {len(events)} events, {new} new", changed=new > 0)


def handle_aftership(delivery: WebhookDelivery, p: dict) -> Outcome:
    tracking = p.get("msg")
    if not isinstance(tracking, dict):
        raise MappingError("an AfterShip webhook carries the tracking under msg")
    number = text(tracking.get("tracking_number"), 128)
    delivery.resource_id = f"tracking:{number}"
    events = []
    for c in tracking.get("checkpoints") or []:
        when = to_datetime(c.get("checkpoint_time"), field="checkpoints.checkpoint_time", naive_is_utc=True)
        if when is None:
            continue
        events.append(
            EventFacts(
                status=aftership_status(c.get("tag"), c.get("subtag")),
                raw_status=text(c.get("tag"), 64),
                raw_substatus=text(c.get("subtag"), 128),
                message=text(c.get("message"), 500),
                location=location_text(c.get("location") or c.get("city"), c.get("state"), c.get("zip"))
                or location_text(c.get("country_name")),
                country="",
                occurred_at=when,
            )
        )
    return _apply(number, events, source="aftership", carrier=text(tracking.get("slug"), 64))


def handle_easypost(delivery: WebhookDelivery, p: dict) -> Outcome:
    if p.get("object") != "Event" or not str(p.get("description", "")).startswith("tracker."):
        return Outcome.ignored(f"EasyPost event {p.get('description') or '(none)'} is not about a tracker")
    tracker = p.get("result") or {}
    number = text(tracker.get("tracking_code"), 128)
    delivery.resource_id = f"tracker:{text(tracker.get('id'), 40)}"
    events = []
    for d in tracker.get("tracking_details") or []:
        place = d.get("tracking_location") or {}
        events.append(
            EventFacts(
                status=easypost_status(d.get("status"), d.get("status_detail")),
                raw_status=text(d.get("status"), 64),
                raw_substatus=text(d.get("status_detail"), 128),
                message=text(d.get("message") or d.get("description"), 500),
                location=location_text(place.get("city"), place.get("state"), place.get("zip"), place.get("country")),
                country=text(place.get("country"), 2),
                occurred_at=to_datetime(d.get("datetime"), field="tracking_details.datetime", required=True),
            )
        )
    return _apply(number, events, source="easypost", carrier=text(tracker.get("carrier"), 64))


def handle_shippo(delivery: WebhookDelivery, p: dict) -> Outcome:
    event = p.get("event")
    if event not in (None, "track_updated"):
        return Outcome.ignored(f"Shippo event {event} is not about tracking")
    track = p.get("data")
    if not isinstance(track, dict):
        raise MappingError("a Shippo track_updated webhook carries the track under data")
    number = text(track.get("tracking_number"), 128)
    delivery.resource_id = f"track:{number}"
    history = list(track.get("tracking_history") or [])
    if track.get("tracking_status"):
        history.append(track["tracking_status"])  # the current status, often also the last of the history
    events = []
    for h in history:
        place = h.get("location") or {}
        sub = h.get("substatus")
        sub_code = sub.get("code") if isinstance(sub, dict) else sub
        when = to_datetime(h.get("status_date"), field="tracking_history.status_date")
        if when is None:
            continue
        events.append(
            EventFacts(
                status=shippo_status(h.get("status"), sub_code),
                raw_status=text(h.get("status"), 64),
                raw_substatus=text(sub_code, 128),
                message=text(h.get("status_details"), 500),
                location=location_text(place.get("city"), place.get("state"), place.get("zip"), place.get("country")),
                country=text(place.get("country"), 2),
                occurred_at=when,
            )
        )
    return _apply(number, events, source="shippo", carrier=text(track.get("carrier"), 64))


PROVIDERS = {
    WebhookDelivery.Source.AFTERSHIP: (verify_aftership, handle_aftership),
    WebhookDelivery.Source.EASYPOST: (verify_easypost, handle_easypost),
    WebhookDelivery.Source.SHIPPO: (verify_shippo, handle_shippo),
}


def topic_of(provider: str, payload: dict) -> str:
    if provider == WebhookDelivery.Source.AFTERSHIP:
        return text(payload.get("event"), 64) or "tracking_update"
    if provider == WebhookDelivery.Source.EASYPOST:
        return text(payload.get("description"), 64)
    return text(payload.get("event"), 64) or "track_updated"


def delivery_id_of(provider: str, payload: dict) -> str:
    if provider == WebhookDelivery.Source.AFTERSHIP:
        return text(payload.get("event_id"), 128)
    if provider == WebhookDelivery.Source.EASYPOST:
        return text(payload.get("id"), 128)  # evt_...: the same event re-sent keeps it
    return ""


def handle(delivery: WebhookDelivery, payload: dict) -> Outcome:
    _, handler = PROVIDERS[delivery.source]
    with transaction.atomic():
        return handler(delivery, payload)
