"""An option's money and timing in plain sentences, with the currency: what a person reads instead
of "178.00 / -106.00". Pure: the option as the packet keeps it (decimal strings) and its currency."""

from __future__ import annotations

from decimal import Decimal

from backorders.formats.money import format_money

from . import facts as f

MONEY_BACK = {f.REFUND: "Refund {cost} to the customer", f.CANCEL: "Cancel and refund {cost} to the customer"}


def _amount(value) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value))


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def option_sentences(option: dict, currency: str | None = None) -> list[str]:
    """One sentence each for the option's cost, its effect on the order's margin and its timing
    compared with waiting; nothing for what the packet does not state."""
    sentences = []
    cost = _amount(option.get("cost"))
    margin = _amount(option.get("margin_impact"))
    days = option.get("shipping_days_difference")
    action = option.get("action")
    if cost is not None:
        shown = format_money(cost, currency)
        if action in MONEY_BACK:
            sentences.append(MONEY_BACK[action].format(cost=shown) + ".")
        elif cost == 0:
            sentences.append("It costs the store nothing extra.")
        else:
            sentences.append(f"It costs the store {shown}.")
    if margin is not None:
        if margin < 0:
            sentences.append(f"You give up {format_money(-margin, currency)} of margin on this order.")
        elif margin > 0:
            sentences.append(f"Your margin on this order grows by {format_money(margin, currency)}.")
        else:
            sentences.append("Your margin on this order is unchanged.")
    if days is not None:
        days = int(days)
        if days < 0:
            sentences.append(f"The customer gets it about {_days(-days)} sooner than by waiting.")
        elif days > 0:
            sentences.append(f"The customer gets it about {_days(days)} later than by waiting.")
        else:
            sentences.append("It reaches the customer when waiting would.")
    return sentences
