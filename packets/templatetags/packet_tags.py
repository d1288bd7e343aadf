"""Small filters for showing packet content (JSON: ISO strings and decimal strings)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from packets.audit.timeline import to_moment

register = template.Library()


@register.filter
def moment(value):
    """An ISO 8601 string from a packet as an aware datetime (shown in the store's zone)."""
    return to_moment(value)


@register.filter
def money(value, currency: str = ""):
    """A decimal string as money with two places: "84.2" -> "84.20"."""
    if value in (None, ""):
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return value
    return f"{amount:,} {currency}".strip()


@register.filter
def get(mapping, key):
    if not mapping:
        return None
    return mapping.get(key) if hasattr(mapping, "get") else None


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
