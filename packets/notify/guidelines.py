"""The store's message guidelines, checked on the text a customer would read.

``check`` returns plain-language issues; an empty list means the text keeps every guideline.
A draft with issues is stored with them (``Message.guideline_issues``), cannot be approved and is
refused by the send task.
"""

from __future__ import annotations

import re

from django.conf import settings

from backorders.formats.text import typography_issues
from backorders.models import StorePolicy

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
DATE_PATTERN = re.compile(
    rf"\b(?:{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}(?=\W|$)"
    r"|\d{4}-\d{2}-\d{2}\b|\d{1,2}/\d{1,2}(?:/\d{2,4})?\b)",
    re.IGNORECASE,
)
# Words that make a sentence a promise about when goods move.
PROMISE_WORDS = re.compile(r"\b(ship|arriv|deliver|dispatch|restock|in stock|available)", re.IGNORECASE)
URL = re.compile(r"https?://\S+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
DIGIT = re.compile(r"\d")
MISSING_CANCEL_LINK = "A backorder update must include the link where the customer can cancel."
# Words that tell a customer the parcel has left. "Before it ships" and "when it ships" are not.
SHIPPED_WORDS = re.compile(
    r"\bon (?:its|their|the) way\b|\b(?:has|have|was|were|been|is|are) (?:now |just )?(?:shipped|dispatched)\b"
    r"|\bin transit\b|\bshipped (?:today|yesterday|out)\b|\bout for delivery\b",
    re.IGNORECASE,
)
# Words that hold out a date or a wait: wrong for an item that will not come back.
WAIT_WORDS = re.compile(
    r"\bsupplier (?:gives|confirms|has not confirmed|sends)\b|\bexpect(?:ed)? (?:it )?to ship\b|\bstill on backorder\b"
    r"|\bis on backorder\b|\bwhen we have a date\b",
    re.IGNORECASE,
)
GONE_ITEM_WAIT = (
    "It holds out a date or a wait for an item that will not come back (discontinued): say so plainly and "
    "offer a similar item or cancellation."
)
LABEL_IS_NOT_A_SHIPMENT = (
    "It says the parcel has shipped, but no carrier has scanned it yet: a label alone is not a shipment."
)


def word_count(text: str) -> int:
    return len(text.split())


def check(
    message_text: str,
    channel: str,
    policy: StorePolicy,
    *,
    cancel_link_required: bool = False,
    parcel_moving: bool | None = None,
    item_gone: bool = False,
) -> list[str]:
    """Issues with ``message_text`` under ``policy`` for ``channel`` ("email" or "sms").

    ``parcel_moving``: whether a carrier scan shows the order's parcel moving (False: at most a
    label; None: not known here). A text that says the parcel has shipped needs it True.
    ``item_gone``: the item is discontinued, so no text may hold out a date or a wait for it."""
    issues: list[str] = []
    text = message_text or ""
    if not text.strip():
        return ["The message is empty."]

    limit = policy.sms_word_limit if channel == "sms" else policy.email_word_limit
    words = word_count(text)
    if words > limit:
        issues.append(f"It is {words} words long; the limit for {channel} is {limit}.")

    lowered = " ".join(text.lower().split())
    for phrase in policy.forbidden_phrases:
        if phrase and phrase.lower() in lowered:
            issues.append(f'It uses the forbidden phrase "{phrase}".')

    for sentence in SENTENCE_END.split(URL.sub(" ", text)):
        if not DIGIT.search(sentence):
            continue  # every date form above has a digit: most sentences need no closer look
        dates = DATE_PATTERN.findall(sentence)
        if len(dates) == 1 and PROMISE_WORDS.search(sentence):
            issues.append(
                f'It gives one exact date ("{dates[0].strip().rstrip(".")}") for shipping or arrival; '
                "give a range instead."
            )

    issues.extend(typography_issues(text))

    if item_gone and WAIT_WORDS.search(text):
        issues.append(GONE_ITEM_WAIT)

    if parcel_moving is False and SHIPPED_WORDS.search(URL.sub(" ", text)):
        issues.append(LABEL_IS_NOT_A_SHIPMENT)

    if PLACEHOLDER.search(text):
        issues.append("It still has an unfilled placeholder in braces.")

    if cancel_link_required and f"{settings.SITE_URL}/o/" not in text:
        issues.append(MISSING_CANCEL_LINK)
    return issues
