"""Packet PDFs kept by the hash of everything they show, so an unchanged packet is not laid out again.

One file per case under ``PACKET_PDF_CACHE_DIR``: ``<case id>/<digest>.pdf``. The digest is the
SHA-256 of the page's HTML (the packet version printed, its content after redaction, the integrity
check recomputed, the decisions, messages and audit trail: everything the template shows but the
moment it was rendered) and of the print stylesheet, so a change that would show on the page gives
a new digest and a new file; a stale PDF is never served. A case keeps only its latest file. Erasing
a customer deletes their cases' files (``packets.privacy.erasure``). An empty setting turns it off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _root() -> Path | None:
    configured = getattr(settings, "PACKET_PDF_CACHE_DIR", "")
    return Path(configured) if configured else None


def read(case_id: int, key: str) -> bytes | None:
    root = _root()
    if root is None:
        return None
    try:
        return (root / str(int(case_id)) / f"{key}.pdf").read_bytes()
    except FileNotFoundError:
        return None


def write(case_id: int, key: str, pdf: bytes) -> None:
    """Keep ``pdf`` as the case's file (written whole, then renamed), dropping its older ones."""
    root = _root()
    if root is None:
        return
    folder = root / str(int(case_id))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(pdf)
    os.replace(temporary, folder / f"{key}.pdf")
    for old in folder.iterdir():
        if old.name != f"{key}.pdf" and old.suffix == ".pdf":
            old.unlink(missing_ok=True)


def forget(case_ids: Iterable[int]) -> int:
    """Delete the kept PDFs of these cases; returns how many cases had some."""
    root = _root()
    if root is None:
        return 0
    gone = 0
    for case_id in case_ids:
        folder = root / str(int(case_id))
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            gone += 1
    return gone
