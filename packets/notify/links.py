"""Signed, expiring links to the customer's order page: no login, nothing guessable.

The token is ``django.core.signing.dumps`` of the order id with its own salt (a timestamped,
HMAC-signed value), checked with a maximum age from ``CUSTOMER_LINK_MAX_AGE_DAYS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.http import RFC3986_SUBDELIMS

from backorders.models import Order

SALT = "packets.customer-order-page"
# A customer-page link as a draft quotes it, whatever site address it was drafted under.
QUOTED_LINK = re.compile(r"https?://[^\s]*?/o/[^/\s]+/(?!cancel/)")


class LinkInvalid(Exception):
    """The token was not made by this site, or was altered."""


class LinkExpired(Exception):
    """The token is genuine but older than the allowed age."""


def customer_token(order: Order) -> str:
    return signing.dumps({"o": order.pk}, salt=SALT, compress=True)


def customer_path(order: Order) -> str:
    return reverse("packets:customer-order", args=[customer_token(order)])


def customer_link(order: Order) -> str:
    """The absolute URL of the order's customer page, as messages quote it."""
    return f"{settings.SITE_URL}{customer_path(order)}"


def customer_links() -> Callable[[Order], str]:
    """``customer_link`` for many orders at once (a cadence run drafts thousands of messages).

    The URL pattern is reversed once and each order's token is signed once; the token is quoted
    as ``reverse`` quotes it, so the links are the same as ``customer_link``'s.
    """
    marker = "customer-token"
    head, _, tail = f"{settings.SITE_URL}{reverse('packets:customer-order', args=[marker])}".partition(marker)
    made: dict[int, str] = {}

    def link(order: Order) -> str:
        if order.pk not in made:
            made[order.pk] = f"{head}{quote(customer_token(order), safe=RFC3986_SUBDELIMS + '/~:@')}{tail}"
        return made[order.pk]

    return link


def with_current_links(text: str, order: Order) -> str:
    """``text`` with every customer-page link it quotes made afresh: today's ``SITE_URL`` and a new
    token. A draft is written once and sent later (after approval, after a retry): the link goes out
    as the site is now, never as it was when the draft was made."""
    if "/o/" not in text:
        return text
    fresh = customer_link(order)
    return QUOTED_LINK.sub(lambda _match: fresh, text)


def read_token(token: str) -> int:
    """The order id a token names; raises LinkExpired or LinkInvalid."""
    max_age = timedelta(days=settings.CUSTOMER_LINK_MAX_AGE_DAYS)
    try:
        value = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise LinkExpired("This link has expired.") from None
    except signing.BadSignature:
        raise LinkInvalid("This link is not valid.") from None
    if not isinstance(value, dict) or not isinstance(value.get("o"), int):
        raise LinkInvalid("This link is not valid.")
    return value["o"]
