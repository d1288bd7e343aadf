"""Customer replies from a plain mailbox over IMAP, for stores without an email provider.

``IMAP_URL`` names it: ``imaps://user:password@host[:port]/INBOX`` (``imap://`` only for a server
on this machine). ``fetch_replies`` reads the unseen emails (at most ``BATCH`` a run), stores each
raw through ``replies.store`` (which queues its reading), and only then marks them seen: a run
that dies half-way reads them again, and the Message-ID keeps one copy. ``manage.py fetch_replies``
runs it by hand; the ``replies.fetch_imap`` schedule every minute.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

from anymail.inbound import AnymailInboundMessage
from django.conf import settings
from imap_tools import AND, MailBox, MailBoxUnencrypted, MailMessageFlags

from packets.models import InboundMail

from . import replies

logger = logging.getLogger(__name__)

BATCH = 200
TIMEOUT = 30


class ImapNotConfigured(Exception):
    pass


def _mailbox(url: str):
    parts = urlsplit(url)
    if parts.scheme not in {"imap", "imaps"} or not (parts.hostname and parts.username and parts.password):
        raise ImapNotConfigured("IMAP_URL must be imaps://user:password@host/INBOX")
    kind = MailBox if parts.scheme == "imaps" else MailBoxUnencrypted
    port = parts.port or (993 if parts.scheme == "imaps" else 143)
    folder = unquote(parts.path.strip("/")) or "INBOX"
    box = kind(parts.hostname, port, timeout=TIMEOUT)
    return box.login(unquote(parts.username), unquote(parts.password), initial_folder=folder)


def fetch_replies(url: str | None = None) -> str:
    """Store every unseen email in the mailbox and queue its reading. Returns what happened."""
    url = url if url is not None else settings.IMAP_URL
    if not url:
        return "IMAP_URL is not set: no mailbox to read"
    stored, seen = 0, []
    host = urlsplit(url).hostname
    with _mailbox(url) as box:
        for email in box.fetch(AND(seen=False), mark_seen=False, limit=BATCH, bulk=True):
            parsed = AnymailInboundMessage.parse_raw_mime_bytes(email.obj.as_bytes())
            mail = replies.store(InboundMail.Source.IMAP, parsed, fallback_id=f"<imap-{email.uid}@{host}>")
            stored += mail.status == InboundMail.Status.RECEIVED
            seen.append(email.uid)
        if seen:
            box.flag(seen, MailMessageFlags.SEEN, True)
    logger.info("IMAP: %s email(s) read, %s new", len(seen), stored)
    return f"{len(seen)} email(s) read, {stored} new"
