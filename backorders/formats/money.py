"""Showing an amount of money: one formatter, by currency, with Babel (CLDR).

Each currency is shown with its own number of decimals (JPY none, USD two, KWD three) and its
own symbol (``$84.20``, ``¥1,235``, ``CA$12.50``), in the locale of ``MONEY_LOCALE``. Amounts are
``Decimal`` (or a decimal string, as packets keep them); a float is refused, because it cannot
hold a price exactly. Rounding to the currency's places is half-up, as a till rounds. An amount
with no currency is in the store's (``STORE_CURRENCY``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision
from django.conf import settings


def to_decimal(amount) -> Decimal:
    """An amount as ``Decimal``: a ``Decimal``, an ``int`` or a decimal string, never a float."""
    if isinstance(amount, float):
        raise TypeError("money is Decimal: a float cannot hold a price exactly")
    if isinstance(amount, Decimal):
        value = amount
    else:
        try:
            value = Decimal(str(amount).strip())
        except InvalidOperation:
            raise ValueError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not an amount of money")
    return value


def format_money(amount, currency: str | None = None, *, locale: str | None = None) -> str:
    """``amount`` in ``currency`` as people read it: ``format_money(Decimal("1234.5"), "JPY")`` -> ``¥1,235``."""
    code = (currency or settings.STORE_CURRENCY).strip().upper()
    value = to_decimal(amount)
    places = get_currency_precision(code)
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return format_currency(value, code, locale=locale or settings.MONEY_LOCALE)
