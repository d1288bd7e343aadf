"""The signed reply address every email we send names: ``reply+<token>@REPLY_DOMAIN``.

The token is the message's id and an HMAC of it under the site's secret key (lower-case letters and
digits only: mail systems may change the case of an address's local part). A reply to it finds its
message, and so its case, whatever the customer's mail program did to the subject or the headers;
an address nobody signed finds nothing.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "packets.reply-address"
LOCAL = re.compile(r"^reply\+m(\d{1,12})\.([0-9a-f]{20})$")


def _mac(message_id: int) -> str:
    return salted_hmac(SALT, str(message_id)).hexdigest()[:20]


def reply_address(message_id: int) -> str:
    """The address replies to this message go to; empty when no ``REPLY_DOMAIN`` is set."""
    if not settings.REPLY_DOMAIN:
        return ""
    return f"reply+m{message_id}.{_mac(message_id)}@{settings.REPLY_DOMAIN}"


def message_of(address: str) -> int | None:
    """The id of the message this reply address was signed for; None for any other address."""
    local, _, domain = (address or "").strip().strip("<>").lower().rpartition("@")
    if not settings.REPLY_DOMAIN or domain != settings.REPLY_DOMAIN:
        return None
    found = LOCAL.match(local)
    if not found or not constant_time_compare(found.group(2), _mac(int(found.group(1)))):
        return None
    return int(found.group(1))
