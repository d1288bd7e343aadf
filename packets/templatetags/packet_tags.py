"""Small filters for showing packet content (JSON: ISO strings and decimal strings)."""

from __future__ import annotations

from django import template

from backorders.formats.money import format_money
from packets.audit.timeline import to_moment
from packets.rules.option_words import option_sentences

register = template.Library()


@register.filter
def moment(value):
    """An ISO 8601 string from a packet as an aware datetime (shown in the store's zone)."""
    return to_moment(value)


@register.filter
def money(value, currency: str = ""):
    """A decimal string from a packet as money in its currency: "84.2"|money:"USD" -> "$84.20"."""
    if value in (None, ""):
        return ""
    try:
        return format_money(value, currency or None)
    except (TypeError, ValueError):
        return value


@register.filter
def get(mapping, key):
    if not mapping:
        return None
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def change_sentences(change: dict) -> list[str]:
    """A stored packet change in words ("Risk: owner-only → chargeback watch.")."""
    from packets.audit.changes import sentences

    return sentences(change or {})


@register.filter
def field_label(value: str) -> str:
    return str(value or "").replace("_", " ")


@register.filter
def age(value, now=None):
    """How long ago, compactly: "45 min", "5 h", "3 d"."""
    from django.utils import timezone

    if not value:
        return ""
    seconds = max(((now or timezone.now()) - value).total_seconds(), 0)
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


@register.filter
def option_words(option, currency: str = ""):
    """An option's cost, margin and timing as plain sentences with the currency."""
    try:
        return option_sentences(option or {}, currency or None)
    except (TypeError, ValueError, ArithmeticError):
        return []


@register.filter
def promise_missed(order, today=None):
    """Whole days since the order's promised ship-by date passed, in the store's calendar; None
    when it has not (or there is none)."""
    from packets.queue import store_today

    promised = getattr(order, "promised_ship_by", None)
    if promised is None:
        return None
    late = ((today or store_today()) - promised).days
    return late if late > 0 else None


@register.filter
def until(value, now=None):
    """How long until a moment, compactly ("5 h", "40 min"); empty when it has passed."""
    from django.utils import timezone

    if not value:
        return ""
    seconds = (value - (now or timezone.now())).total_seconds()
    if seconds <= 0:
        return ""
    if seconds < 3600:
        return f"{max(int(seconds // 60), 1)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"
