"""Phone numbers, read once at intake into E.164 (``+15555555555``), the form SMS providers take.

A number typed without its country code ("(555) 555-5555") is read in the store's country
(``STORE_COUNTRY``). A number that cannot be read as a possible phone number is kept as it came,
so a person can fix it, and flagged (``Customer.phone_unreadable``); no SMS is ever sent to it:
the cadence writes to such a customer by email, and the SMS sender refuses anything but E.164.
"""

from __future__ import annotations

from typing import NamedTuple

import phonenumbers
from django.conf import settings

MAX_LENGTH = 32  # Customer.phone


class PhoneReading(NamedTuple):
    phone: str  # E.164 when readable; otherwise the text as it came (trimmed to the column)
    unreadable: bool


def read_phone(raw: str, region: str | None = None) -> PhoneReading:
    """``raw`` as E.164 when it is a possible number (in ``region``, default the store's country)."""
    text = (raw or "").strip()
    if not text:
        return PhoneReading("", False)
    try:
        number = phonenumbers.parse(text, region or settings.STORE_COUNTRY)
    except phonenumbers.NumberParseException:
        return PhoneReading(text[:MAX_LENGTH], True)
    if not _dialable(number):
        return PhoneReading(text[:MAX_LENGTH], True)
    return PhoneReading(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), False)


def _dialable(number: phonenumbers.PhoneNumber) -> bool:
    """A whole number (not one that works only locally, without its area code)."""
    reason = phonenumbers.is_possible_number_with_reason(number)
    return reason == phonenumbers.ValidationResult.IS_POSSIBLE


def is_e164(phone: str) -> bool:
    """True for a number already in E.164 form that is a possible number: the only form SMS goes to."""
    if not phone or not phone.startswith("+"):
        return False
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return _dialable(number) and (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone)
