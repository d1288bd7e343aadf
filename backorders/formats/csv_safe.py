"""Every CSV file the product writes goes through here, so a spreadsheet opens it without running anything.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (OWASP's "CSV injection"): a SKU, a carrier name or a case
title typed as ``=HYPERLINK(...)`` would run on the owner's machine. Such a cell is written with a
leading apostrophe, which spreadsheets show as text and do not evaluate. Numbers (``int``,
``Decimal``, ``float``) are written as they are: ``-5`` is a number, not a formula.

Use :func:`writer` and :class:`DictWriter` in place of ``csv.writer`` / ``csv.DictWriter``.
:func:`unescape_cell` undoes the quoting when the product reads back a file it wrote.
"""

from __future__ import annotations

import csv
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The cell as a spreadsheet may open it: text that starts like a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unescape_cell(text: str) -> str:
    """Undo :func:`safe_cell` on a cell read back from one of the product's own files."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


class SafeWriter:
    """``csv.writer`` whose every cell passes through :func:`safe_cell`."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(out, **kwargs) -> SafeWriter:
    return SafeWriter(out, **kwargs)


class DictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose every cell (the header too) passes through :func:`safe_cell`."""

    def writerow(self, rowdict):
        return super().writerow({key: safe_cell(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts):
        for rowdict in rowdicts:
            self.writerow(rowdict)
