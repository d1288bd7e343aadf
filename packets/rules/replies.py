"""Reading a customer's email reply: is it a person at all, and which words are theirs.

Pure functions of the headers and the text. An auto-reply or a bounce (RFC 3834 ``Auto-Submitted``,
``X-Autoreply``, ``Precedence: bulk|junk|list|auto_reply``, a null or ``MAILER-DAEMON`` sender) is
recognised and never scored: an out-of-office "I am away" is not the customer's mood. The quoted
part of a reply (our own message, "> " lines, the "On ... wrote:" line and what follows, a
forwarded or "Original Message" block, a signature after "-- ") is cut before scoring, so the
words of our update are never read as theirs. A customer who wrote waits for a person's answer
until ``reply_due``: the policy's hours for their first message on the case, or for a later one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

AUTOMATED_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
DAEMON_SENDERS = ("mailer-daemon", "postmaster")

MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# The line that starts the quoted message in the common mail programs.
_QUOTE_HEADS = re.compile(
    r"^\s*(?:On\b.{0,300}\bwrote:\s*$"  # Gmail, Apple Mail, Thunderbird
    r"|-{2,}\s*Original Message\s*-{2,}"  # Outlook, many webmails
    r"|-{2,}\s*Forwarded message\s*-{2,}"
    r"|_{10,}\s*$"  # Outlook's rule before its From: block
    r"|From:\s.*\bSent:\s"  # Outlook, all on one line
    r"|From:\s.+$(?=\n\s*(?:Sent|Date):))",
    re.I | re.M,
)
_SIGNATURE = re.compile(r"^-- ?$", re.M)


def automated_reason(headers: Iterable[tuple[str, str]], from_address: str) -> str:
    """Why this email is an auto-reply or a bounce rather than a person's words; empty when a person wrote."""
    sender = (from_address or "").strip().lower()
    if not sender or sender in {"<>", "null"}:
        return "it has no sender (a bounce)"
    if sender.split("@", 1)[0] in DAEMON_SENDERS:
        return f"it comes from {sender} (a bounce)"
    for name, value in headers:
        name, value = name.strip().lower(), str(value or "").strip().lower()
        if name == "auto-submitted" and value and value != "no":
            return f"Auto-Submitted: {value}"
        if name in {"x-autoreply", "x-autorespond"}:
            return f"{name}: {value or 'set'}"
        if name == "precedence" and value in AUTOMATED_PRECEDENCE:
            return f"Precedence: {value}"
        if name == "return-path" and value in {"<>", ""}:
            return "it has a null return path (a bounce)"
        if name == "content-type" and "report-type=delivery-status" in value.replace(" ", ""):
            return "it is a delivery status report (a bounce)"
    return ""


def message_ids(*values: str | None) -> list[str]:
    """The ``<id@host>`` values named in In-Reply-To / References headers, in order, without repeats."""
    found: list[str] = []
    for value in values:
        for mid in MESSAGE_ID.findall(value or ""):
            if mid not in found:
                found.append(mid)
    return found


def strip_quoted(text: str) -> str:
    """The customer's own words: the text above the quoted message, without "> " lines or a signature."""
    text = (text or "").replace("\r\n", "\n")
    head = _QUOTE_HEADS.search(text)
    if head:
        text = text[: head.start()]
    signature = _SIGNATURE.search(text)
    if signature:
        text = text[: signature.start()]
    lines = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(lines).strip()


def reply_due(received_at: datetime, *, first: bool, first_hours: int, followup_hours: int) -> datetime:
    """When a person must have answered the customer's message: the policy's hours for a first
    message on the case, or for a later one."""
    return received_at + timedelta(hours=first_hours if first else followup_hours)
