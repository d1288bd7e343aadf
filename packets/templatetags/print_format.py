"""Filters for printed packets: store-time dates with the zone named, labels, assets."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import template
from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime

from packets.audit.pdf import asset_url
from packets.models import Case, Decision, Message

register = template.Library()

_LABELS = {
    **dict(Decision.Action.choices),
    **dict(Case.Risk.choices),
    **dict(Case.Kind.choices),
    **dict(Case.Category.choices),
}


@register.simple_tag
def pdf_static(relative: str) -> str:
    """A static file, addressed the only way the PDF fetcher will serve it."""
    return asset_url(relative)


def _store_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE)


@register.filter
def store_time(value) -> str:
    """A moment in the store's time zone with the zone's abbreviation, e.g. '2026-03-04 09:05 EST'.

    Accepts an aware datetime or an ISO 8601 string; a plain date prints as a date. Anything
    unreadable is shown as it came rather than dropped.
    """
    if value in (None, ""):
        return "—"
    moment = value
    if isinstance(value, str):
        # A bare date ("2026-03-23") is a calendar day, not midnight UTC: print it as it is.
        day = parse_date(value) if len(value) == 10 else None
        if day is not None:
            return day.strftime("%Y-%m-%d")
        moment = parse_datetime(value)
        if moment is None:
            return value
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(_store_zone()).strftime("%Y-%m-%d %H:%M %Z")
    if isinstance(moment, dt.date):
        return moment.strftime("%Y-%m-%d")
    return str(value)


@register.filter
def label(value) -> str:
    """The words for a stored code such as 'chase_supplier' or 'refund_risk'."""
    if value in (None, ""):
        return "—"
    if value in _LABELS:
        return str(_LABELS[value])
    words = str(value).replace("_", " ")
    return words[:1].upper() + words[1:]


@register.filter
def change_sentences(change: dict) -> list[str]:
    """A stored packet change in words ("Risk: owner-only → chargeback watch.")."""
    from packets.audit.changes import sentences

    return sentences(change or {})


@register.filter
def labels(values) -> str:
    """A list of codes as words, comma-separated."""
    return ", ".join(label(v) for v in values or []) or "—"


@register.filter
def delivery_state(message: Message) -> str:
    """Where a message got to, in words an auditor can read."""
    if message.status == Message.Status.SENT:
        return "Sent, accepted by the provider"
    if message.status == Message.Status.FAILED:
        return f"Failed after {message.attempts} attempt(s)" + (f": {message.last_error}" if message.last_error else "")
    return message.get_status_display()


@register.filter
def yes_no(value) -> str:
    if value is None:
        return "—"
    return "Yes" if value else "No"


@register.filter
def person(user) -> str:
    """'Olivia Owner (olivia)', or the username alone when there is no name."""
    if user is None:
        return "—"
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()
