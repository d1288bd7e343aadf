"""Supplier evidence: pasted words in, a SupplierUpdate out, with how far it can be trusted.

``read_evidence(text, received)`` is a pure reading of the words: kind, stock status, dates,
tracking number, references, and the reasons that make it confirmed or weak.
``record_update(...)`` stores it, after comparing it with the latest earlier update for the same
supplier and product: an update that contradicts it is *conflicting* and names the one it
contradicts.

Strength, in one place:
- **confirmed**: specific and verifiable: a tracking number; a PO or confirmation reference; a
  concrete date in writing; or a written, unhedged statement that the goods are *not* available
  (a supplier admitting a problem needs no further proof).
- **weak**: vague or unverifiable: hedges ("should", "hopefully", "a couple of weeks"), a phone
  call, a claim of stock, dispatch or restock with no date and no reference.
- **conflicting**: contradicts the latest earlier update (in stock, then out of stock; a restock
  window that moved; discontinued, then available).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import Product

from .dates import DateMention, find_dates
from .models import Supplier, SupplierSource, SupplierUpdate

Kind = SupplierUpdate.Kind
Stock = SupplierUpdate.StockStatus
Strength = SupplierUpdate.Strength

MAX_TEXT = 20_000


def _any(patterns: list[str]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


DISCONTINUED = _any(
    [
        r"discontinued",
        r"end[- ]of[- ]line",
        r"no longer (?:made|make|produced|produce|manufactured|carry|carried|stock|stocked|offered|sold|available)",
        r"(?:won't|will not|will never) be (?:restocked|made again|produced again|back)",
        r"not (?:being )?(?:restocked|reordered) (?:again|ever)",
        r"out of production",
        r"phased out",
    ]
)
VARIANT_WORDS = r"(?:variant|colou?r|colorway|size|glaze|finish|shade|version|option|model)"
VARIANT_MISSING = re.compile(
    VARIANT_WORDS
    + r"\b[^.!?\n]{0,80}?\b(?:retired|dropped|not available|unavailable|no longer|cannot supply|can't supply|"
    r"can not supply|missing|isn't available|is not available|not offered)"
    r"|(?:retired|dropped|no longer offer|can't supply|cannot supply)[^.!?\n]{0,40}?\b" + VARIANT_WORDS,
    re.IGNORECASE,
)
OUT_OF_STOCK = _any(
    [
        r"out of stock",
        r"sold out",
        r"back[- ]?order(?:ed)?",
        r"not (?:currently )?in stock",
        r"no (?:more )?(?:stock|units|inventory)(?: left)?",
        r"none (?:left|available|in stock)",
        r"(?:have|has) run out",
        r"ran out",
        r"stocked out",
        r"out until",
        r"(?:zero|0) (?:units|pcs|pieces) (?:left|available|on hand)",
        r"waiting (?:on|for) (?:stock|the next (?:container|shipment|batch|production run))",
        r"be back(?: in stock)?",
        r"back in stock (?:on|by|in|from|around|next|early|mid|late|end)",
        r"restocking",
        r"restock (?:is|date|expected|due|confirmed|planned|scheduled)",
        r"next (?:container|shipment|batch|production run)",
        r"awaiting (?:stock|production|materials)",
    ]
)
IN_STOCK_NOW = re.compile(
    r"(?:\b(?:is|are|'re|now|just|finally) back in stock\b|^\W*back in stock\b(?! (?:on|by|in|from|around|next))|"
    r"\b(?:have|has been|got|were|was) restocked\b)",
    re.IGNORECASE,
)
IN_STOCK = _any(
    [
        r"in stock",
        r"(?:are|is) available(?: now)?",
        r"available now",
        r"have (?:plenty|them|it|stock|enough)",
        r"ready to (?:ship|go|dispatch)",
        r"on the shelf",
        r"(?:plenty|lots) (?:of|in) stock",
        r"can ship (?:today|tomorrow|this week|immediately)",
    ]
)
PICKUP = _any(
    [
        r"picked up",
        r"collected by",
        r"handed (?:over )?to (?:the )?(?:carrier|courier|ups|fedex|usps|dhl)",
        r"(?:first|carrier) scan",
        r"scanned (?:in )?by",
        r"courier (?:has )?collected",
    ]
)
DISPATCH = _any(
    [
        r"shipped",
        r"dispatched",
        r"sent (?:out|today|yesterday|off)",
        r"went out",
        r"(?:is|are) on (?:its|their) way",
        r"in transit",
        r"left (?:our|the) (?:warehouse|dock|factory)",
        r"will (?:ship|dispatch|send)",
        r"(?:ships|shipping|dispatching) (?:today|tomorrow|this week|on)",
        r"label (?:created|printed)",
    ]
)
RESTOCK = _any(
    [
        r"back in stock",
        r"restock(?:ed|ing)?",
        r"(?:expect|expected|expecting|due|arriv(?:e|es|ing|al)|eta|available again|(?:be|is|are) back)",
        r"next (?:container|shipment|batch|production run)",
        r"(?:production|container|shipment) (?:run|arrives|lands|is due)",
    ]
)
HEDGES = _any(
    [
        r"should",
        r"hopefully",
        r"hope",
        r"probably",
        r"maybe",
        r"perhaps",
        r"might",
        r"may be",
        r"possibly",
        r"likely",
        r"roughly",
        r"approximately",
        r"around",
        r"about (?=\d|one|two|three|four|five|a week|a month)",
        r"(?:a )?couple of",
        r"a few",
        r"soon",
        r"asap",
        r"not sure",
        r"(?:we'll|we will|will) (?:try|confirm|let you know)",
        r"fingers crossed",
        r"tbc",
        r"tentative(?:ly)?",
        r"no (?:firm|confirmed|exact) date",
    ]
)
PHONE = re.compile(
    r"^\s*(?:phone|call|tel|voicemail)\b|\b(?:on the phone|by phone|over the phone|phone call|called (?:us|me|to say)|"
    r"spoke (?:to|with)|voicemail|said on a call)\b",
    re.IGNORECASE,
)
NO_DATE = _any([r"no (?:date|eta) (?:yet|given|available)", r"not (?:yet )?scheduled", r"no date yet", r"date unknown"])
TRACKING = [
    re.compile(r"\b1Z[0-9A-Z]{10,18}\b"),  # UPS
    re.compile(
        r"\btracking(?:\s+(?:number|no\.?|#|id|code))?\s*(?:is|:|#)?\s*(?P<number>[A-Z0-9][A-Z0-9-]{7,34})\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:9[234]\d{18,24})\b"),  # USPS
]
REFERENCE = re.compile(
    r"\b(?P<reference>(?:PO|P\.O\.)\s*(?:#|no\.?|number)?\s*[-:]?\s*[A-Z0-9][A-Z0-9-]{2,24}"
    r"|(?:order|confirmation|conf\.?|ref(?:erence)?|invoice|booking)\s*(?:#|no\.?|number|ref)\s*[:#]?\s*[A-Z0-9][A-Z0-9-]{3,24})",
    re.IGNORECASE,
)
PAST_TENSE = _any([r"went", r"shipped", r"sent", r"dispatched", r"picked up", r"collected", r"left", r"was", r"were"])


@dataclass
class Reading:
    """What the words say, before they are compared with earlier evidence."""

    kind: str
    stock_status: str
    dates: list[DateMention] = field(default_factory=list)
    restock_from: date | None = None
    restock_to: date | None = None
    dispatched_on: date | None = None
    tracking_number: str = ""
    references: list[str] = field(default_factory=list)
    strength: str = Strength.WEAK
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)[:255]


def _tracking_number(text: str) -> str:
    for pattern in TRACKING:
        match = pattern.search(text)
        if match:
            number = match.groupdict().get("number") or match.group(0)
            if any(ch.isdigit() for ch in number):
                return number.upper()
    return ""


def _stock_status(text: str, *, shipping: bool) -> str:
    if DISCONTINUED.search(text):
        return Stock.DISCONTINUED
    if VARIANT_MISSING.search(text):
        return Stock.VARIANT_MISSING
    if IN_STOCK_NOW.search(text):
        return Stock.IN_STOCK
    if OUT_OF_STOCK.search(text):
        return Stock.OUT_OF_STOCK
    if IN_STOCK.search(text) or shipping:
        return Stock.IN_STOCK
    return Stock.UNKNOWN


def read_evidence(text: str, received: date) -> Reading:
    """Read a supplier's words received on ``received`` (a local date). Pure: no database."""
    tracking = _tracking_number(text)
    pickup = bool(PICKUP.search(text))
    dispatch = bool(DISPATCH.search(text))
    status = _stock_status(text, shipping=pickup or dispatch)
    dates = find_dates(text, received, past_tense=bool(PAST_TENSE.search(text)))
    future = [d for d in dates if d.end >= received]
    references = [" ".join(m.group("reference").split()) for m in REFERENCE.finditer(text)]
    references = [r for r in references if any(ch.isdigit() for ch in r)]

    if pickup and (tracking or status == Stock.IN_STOCK):
        kind = Kind.PICKUP_PROOF
    elif (dispatch or tracking) and status in {Stock.IN_STOCK, Stock.UNKNOWN}:
        kind = Kind.DISPATCH_CLAIM
    elif status in {Stock.OUT_OF_STOCK, Stock.UNKNOWN} and (future or RESTOCK.search(text)):
        kind = Kind.RESTOCK_ESTIMATE
    else:
        kind = Kind.STOCK_STATUS
    if kind == Kind.RESTOCK_ESTIMATE and status == Stock.UNKNOWN:
        status = Stock.OUT_OF_STOCK  # goods said to be due back are not there now
    reading = Reading(kind=kind, stock_status=status, dates=dates, tracking_number=tracking, references=references)

    if kind == Kind.RESTOCK_ESTIMATE and future:
        reading.restock_from = min(d.start for d in future if d.start >= received or d.end >= received)
        reading.restock_from = max(reading.restock_from, received)
        reading.restock_to = max(d.end for d in future)
    if kind in {Kind.DISPATCH_CLAIM, Kind.PICKUP_PROOF}:
        past = [d for d in dates if d.start <= received]
        reading.dispatched_on = past[-1].start if past else (received if pickup or tracking else None)

    _judge(reading, text, received)
    return reading


def _judge(reading: Reading, text: str, received: date) -> None:
    """Set ``strength`` and its reasons: confirmed only when something in the words can be checked."""
    hedges = sorted({m.group(0).lower() for m in HEDGES.finditer(text)})
    phone = bool(PHONE.search(text))
    exact_dates = [d for d in reading.dates if d.exact and d.end >= received]
    vague_dates = [d for d in reading.dates if not d.exact]
    weak, strong = [], []
    if reading.tracking_number:
        strong.append(f"tracking number {reading.tracking_number}")
    if reading.references:
        strong.append(f"reference {reading.references[0]}")
    if phone:
        weak.append("by phone, not in writing")
    if hedges:
        weak.append("hedged: " + ", ".join(f"'{h}'" for h in hedges[:4]))
    if vague_dates and not exact_dates:
        weak.append("a vague date: " + ", ".join(f"'{d.text}'" for d in vague_dates[:2]))
    if NO_DATE.search(text):
        weak.append("no date given")
    if exact_dates and not phone and not hedges:
        strong.append(f"a written date ({exact_dates[0].text})")

    unavailable = reading.stock_status in {Stock.OUT_OF_STOCK, Stock.DISCONTINUED, Stock.VARIANT_MISSING}
    if reading.kind == Kind.RESTOCK_ESTIMATE and not (exact_dates or reading.references):
        weak.append("a restock claim without a firm date" if reading.dates else "a restock claim with no date")
    if reading.kind in {Kind.DISPATCH_CLAIM, Kind.PICKUP_PROOF} and not reading.tracking_number:
        weak.append("a dispatch claim without a tracking number")
    if reading.kind == Kind.STOCK_STATUS and reading.stock_status == Stock.IN_STOCK and not strong:
        weak.append("an in-stock claim without a reference or ship date")
    if reading.stock_status == Stock.UNKNOWN and reading.kind == Kind.STOCK_STATUS:
        weak.append("no stock status stated")

    if reading.tracking_number and not phone:
        reading.strength = Strength.CONFIRMED  # a carrier can be asked, whatever the tone
        reading.reasons = strong
    elif weak:
        reading.strength = Strength.WEAK
        reading.reasons = weak
    elif strong:
        reading.strength = Strength.CONFIRMED
        reading.reasons = strong
    elif unavailable and reading.kind == Kind.STOCK_STATUS:
        reading.strength = Strength.CONFIRMED
        reading.reasons = ["a written, unhedged statement that it is not available"]
    else:
        reading.strength = Strength.WEAK
        reading.reasons = ["nothing in it can be checked"]


# --------------------------------------------------------------------------- contradictions

AVAILABLE = {Stock.IN_STOCK}
UNAVAILABLE = {Stock.OUT_OF_STOCK, Stock.DISCONTINUED, Stock.VARIANT_MISSING}


def contradiction(reading: Reading, earlier: SupplierUpdate, received: date) -> str:
    """Why ``reading`` contradicts ``earlier``, or "" when it does not."""
    then, now = earlier.stock_status, reading.stock_status
    when = f"the {earlier.get_stock_status_display().lower()} update of {earlier.received_at:%b %d}"
    if then in AVAILABLE and now in UNAVAILABLE:
        return f"says {Stock(now).label.lower()}, contradicting {when}"
    if then in {Stock.DISCONTINUED, Stock.VARIANT_MISSING} and now in AVAILABLE:
        return f"says in stock, contradicting {when}"
    if then == Stock.OUT_OF_STOCK and now in AVAILABLE:
        restocked = earlier.restock_from is not None and received >= earlier.restock_from
        if not restocked:
            return f"says in stock, contradicting {when}, before any restock date it gave"
    both_dated = earlier.restock_from and earlier.restock_to and reading.restock_from and reading.restock_to
    if both_dated and (reading.restock_from > earlier.restock_to or reading.restock_to < earlier.restock_from):
        return (
            f"moves the restock window from {earlier.restock_from:%b %d}–{earlier.restock_to:%b %d} "
            f"to {reading.restock_from:%b %d}–{reading.restock_to:%b %d}"
        )
    return ""


def _guess_product(supplier: Supplier, text: str) -> Product | None:
    """The supplier's product whose SKU (ours or theirs) the words name, when exactly one does."""
    found = []
    for source in SupplierSource.objects.filter(supplier=supplier).select_related("product"):
        names = [source.product.sku, source.supplier_sku]
        if any(name and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE) for name in names):
            found.append(source.product)
    return found[0] if len(found) == 1 else None


def record_update(
    supplier: Supplier,
    text: str,
    *,
    product: Product | None = None,
    user=None,
    received_at: datetime | None = None,
) -> SupplierUpdate:
    """Store what a supplier said as a SupplierUpdate: its kind, dates, stock status and strength.

    Raises ``ValidationError`` for empty or oversized text. The supplier row is locked while the
    latest earlier update is read, so two pastes at once cannot both miss each other's conflict.
    """
    text = (text or "").strip()
    if not text:
        raise ValidationError("Paste the supplier's words: the text is empty.")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"The text is longer than {MAX_TEXT} characters; paste the relevant part.")
    received_at = received_at or timezone.now()
    if timezone.is_naive(received_at):
        raise ValidationError("The received time must carry a time zone.")
    store_calendar = BusinessCalendar()
    received = store_calendar.local_date(received_at)
    reading = read_evidence(text, received)
    if product is None:
        product = _guess_product(supplier, text)

    with transaction.atomic():
        Supplier.objects.select_for_update().filter(pk=supplier.pk).first()
        earlier = (
            SupplierUpdate.objects.filter(supplier=supplier, product=product, received_at__lt=received_at)
            .exclude(kind=Kind.SILENCE)
            .order_by("-received_at", "-id")
            .first()
        )
        strength, reason, conflicts_with = reading.strength, reading.reason, None
        why = contradiction(reading, earlier, received) if earlier else ""
        if why:
            strength, reason, conflicts_with = Strength.CONFLICTING, why[:255], earlier
        dispatched_at = (
            datetime.combine(reading.dispatched_on, datetime.min.time(), tzinfo=store_calendar.tz)
            if reading.dispatched_on
            else None
        )
        return SupplierUpdate.objects.create(
            supplier=supplier,
            product=product,
            kind=reading.kind,
            stock_status=reading.stock_status,
            restock_from=reading.restock_from,
            restock_to=reading.restock_to,
            dispatched_at=dispatched_at,
            tracking_number=reading.tracking_number,
            strength=strength,
            strength_reason=reason,
            conflicts_with=conflicts_with,
            dates_found=[d.as_json() for d in reading.dates],
            source_text=text,
            received_at=received_at,
            recorded_by=user if getattr(user, "is_authenticated", False) else None,
        )
