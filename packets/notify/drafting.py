"""Message text for customers: one template per step in ``packets/templates/packets/messages/``.

Drafts say what is known and nothing more: a ship *range* from ``suppliers.eta.customer_range``
(never one exact date), or plainly that no date is known yet and when we will write next, and the
signed customer-page link on every backorder update so cancelling is always one click away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.template.loader import select_template

from backorders.formats.text import product_name
from backorders.models import OrderLine, Shipment, StorePolicy
from suppliers.eta import EtaRange

from . import guidelines, wording

# Steps that are not in the policy's cadence list: they follow events, not the clock.
DELAY_NOTICE = "delay_notice"  # the FTC Mail Order Rule's delay notice
ETA_REVISED = "eta_revised"  # the ship range changed since we last told the customer
RESTOCKED = "restocked"  # the waiting line got its units: being prepared
SHIPPED = "shipped"  # the line that waited has shipped, with tracking
DISCONTINUED = "discontinued"  # it will not come back: replace or cancel, never "a date will come"
PART_SHIPPED = "part_shipped"  # part of the order ships now, part still waits: which is which
EVENT_STEPS = (DELAY_NOTICE, ETA_REVISED, RESTOCKED, SHIPPED, DISCONTINUED, PART_SHIPPED)
# Steps sent while the customer is still waiting: they must carry the cancel link. A stale parcel's
# update and a reply about it are not backorder updates: the order has left the shelf.
TRACKING_UPDATE = "tracking_update"  # a stale parcel: what we know, what we do, when we write again
TRACKING_REPLY = "tracking_reply"  # a person's reply on a stale-tracking case
REPLY = "reply"  # a person's reply on a stockout or backorder case
REPLACEMENT_OFFER = "replacement_offer"  # an in-stock item instead, if the customer agrees
NOT_WAITING_STEPS = frozenset({RESTOCKED, SHIPPED, TRACKING_UPDATE, TRACKING_REPLY})
# Written by a person: the cadence never cancels them (a person does), whatever the line does.
PERSON_STEPS = frozenset({REPLY, TRACKING_REPLY})

SUBJECTS = {
    DELAY_NOTICE: "Order {number}: a delay, and your options",
    f"{DELAY_NOTICE}:renewed": "Order {number}: a further delay, and your options",
    ETA_REVISED: "Order {number}: a new estimate",
    RESTOCKED: "Order {number} is being prepared",
    SHIPPED: "Order {number} is on its way",
    DISCONTINUED: "Order {number}: an item is no longer available",
    PART_SHIPPED: "Order {number}: part of it ships now, the rest follows",
    "confirmation": "Order {number}: one item is on backorder",
}
DEFAULT_SUBJECT = "Order {number}: an update on your backorder"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str
    eta_told: str  # "YYYY-MM-DD..YYYY-MM-DD", "unknown", or "" when the text gives no estimate
    issues: list[str]


def eta_key(eta: EtaRange | None) -> str:
    return f"{eta.start.isoformat()}..{eta.end.isoformat()}" if eta else UNKNOWN


def parse_eta_key(value: str) -> tuple[date, date] | None:
    """The (start, end) of a told range, or None for 'unknown' (or nothing told)."""
    if ".." not in value:
        return None
    start, end = value.split("..", 1)
    return date.fromisoformat(start), date.fromisoformat(end)


def customer_date(day: date, today: date) -> str:
    text = f"{day:%B} {day.day}"
    return text if day.year == today.year else f"{text}, {day.year}"


def needs_cancel_link(step: str) -> bool:
    return step not in NOT_WAITING_STEPS


def render(
    step: str,
    *,
    line: OrderLine,
    channel: str,
    policy: StorePolicy,
    today: date,
    link: str,
    eta: EtaRange | None = None,
    next_update: date | None = None,
    offer_cancel: bool = False,
    renewed: bool = False,
    long_wait: bool = False,
    ships: list[tuple[str, int]] | None = None,
    waits: list[tuple[str, int, str]] | None = None,
    shipment: Shipment | None = None,
    parcel_moving: bool | None = None,
    chosen: wording.Chosen | None = None,
    alternative: str = "",
) -> Draft:
    """The text for ``step`` about ``line``, with the guideline issues it has (normally none).

    ``parcel_moving``: whether a carrier scan shows the order's parcel moving; the shipped step is
    checked against its own ``shipment`` when none is given. ``chosen``: the owner's wording for the
    step (``packets.notify.wording``), filled in place of the built-in text; ``alternative`` names the
    in-stock item its alternative variant offers."""
    if parcel_moving is None and step == SHIPPED:
        parcel_moving = shipment is not None and shipment.carrier_has_it
    order = line.order
    customer = order.customer
    name = (customer.name if customer else "").strip()
    context = {
        "sms": channel == "sms",
        "store_name": settings.STORE_NAME,
        "first_name": name.split()[0] if name else "there",
        "order_number": order.number,
        "product": product_name(line.title, line.product.variant_title) if line.title else line.product.display_title,
        "quantity": line.quantity,
        "eta": eta,
        "eta_start": customer_date(eta.start, today) if eta else "",
        "eta_end": customer_date(eta.end, today) if eta else "",
        "next_update": customer_date(next_update, today) if next_update else "",
        "offer_cancel": offer_cancel,
        "long_wait": long_wait and eta is not None,
        "ships": ships or [],  # (product, units) of a partial shipment
        "waits": waits or [],  # (product, units, "between X and Y" or "") still waiting
        "renewed": renewed,
        "link": link,
        "carrier": shipment.carrier if shipment else "",
        "tracking_number": shipment.tracking_number if shipment else "",
        "tracking_url": shipment.tracking_url if shipment else "",
    }
    subject_key = f"{step}:renewed" if renewed else step
    subject = SUBJECTS.get(subject_key, SUBJECTS.get(step, DEFAULT_SUBJECT)).format(number=order.number)
    if chosen is None:
        template = select_template([f"packets/messages/{step}.txt", "packets/messages/backorder_update.txt"])
        body = _tidy(template.render(context), sms=channel == "sms")
    else:
        values = placeholder_values(context, policy, alternative=alternative)
        body = _tidy(wording.fill(chosen.body, values), sms=channel == "sms")
        subject = " ".join(wording.fill(chosen.subject, values).split()) or subject
    issues = guidelines.check(
        body,
        channel,
        policy,
        cancel_link_required=needs_cancel_link(step),
        parcel_moving=parcel_moving,
        item_gone=getattr(line.product, "status", "") == "discontinued",
    )
    if parcel_moving is False and guidelines.SHIPPED_WORDS.search(subject):
        issues = [*issues, guidelines.LABEL_IS_NOT_A_SHIPMENT]
    return Draft(
        subject=subject,
        body=body,
        # the owner's words tell a range only through {range}: without it, nothing was told
        eta_told=""
        if step in NOT_WAITING_STEPS or step == DISCONTINUED or (chosen and "{range}" not in chosen.body)
        else eta_key(eta),
        issues=issues,
    )


def placeholder_values(context: dict, policy: StorePolicy, *, alternative: str = "") -> dict[str, str]:
    """What the owner's placeholders (``wording.PLACEHOLDERS``) stand for in a message."""
    eta_known = bool(context["eta"])
    return {
        "first_name": context["first_name"],
        "store_name": context["store_name"],
        "order_number": context["order_number"],
        "product": context["product"],
        "quantity": str(context["quantity"]),
        "range": (
            f"between {context['eta_start']} and {context['eta_end']}"
            if eta_known
            else "once our supplier confirms a date"
        ),
        "next_update": f"by {context['next_update']}" if context["next_update"] else "as soon as anything changes",
        "cancel_link": context["link"],
        "faq_link": policy.faq_url,
        "alternative": alternative,
    }


def _tidy(text: str, *, sms: bool) -> str:
    if sms:
        return " ".join(text.split())
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
