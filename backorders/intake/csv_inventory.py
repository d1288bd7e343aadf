"""Stock counts from a CSV: Shopify's inventory export, or a plain ``sku,on_hand``.

Shopify's export has a row per SKU and location, with ``On hand (current)`` (and an
``On hand (new)`` column for edits, used when filled). A SKU's rows are added up across
locations. Each SKU's count is applied on its own (``apply_stock_count``), so a bad row
never stops the others; a SKU with a bad row is left unchanged.
"""

from __future__ import annotations

from django.db import DataError

from ..allocation import apply_stock_count
from ..models import Product
from .csv_import import MAX_UNITS, ImportFileError, Progress, Report, Rows, column, database_refusal, register

QUANTITY_COLUMNS = ("On hand (new)", "On hand (current)", "On hand", "on_hand", "Available", "Available (not editable)")


def import_inventory(rows: Rows, report: Report, progress: Progress) -> None:
    if not rows:
        return
    header = rows[0][1].keys()
    sku_col = column(header, "SKU")
    quantity_cols = [c for c in (column(header, name) for name in QUANTITY_COLUMNS) if c]
    if sku_col is None or not quantity_cols:
        raise ImportFileError("missing columns: expected SKU and On hand (Shopify's inventory export) or sku,on_hand")
    totals: dict[str, int] = {}
    first_row: dict[str, int] = {}
    bad: set[str] = set()
    for number, row in rows:
        sku = row.get(sku_col, "")
        if not sku:
            report.error(number, sku_col, "empty: the row names no SKU")
            continue
        first_row.setdefault(sku, number)
        used = next((c for c in quantity_cols if row.get(c, "") != ""), None)
        raw = row.get(used, "") if used else ""
        if used is None:
            report.error(number, quantity_cols[0], f"empty: no count for {sku}; {sku} left unchanged")
            bad.add(sku)
            continue
        try:
            count = int(raw.replace(",", ""))
        except ValueError:
            report.error(number, used, f"{raw!r} is not a whole number; {sku} left unchanged")
            bad.add(sku)
            continue
        if count < 0:
            report.error(number, used, f"{count} is negative; {sku} left unchanged")
            bad.add(sku)
            continue
        totals[sku] = totals.get(sku, 0) + count
        if totals[sku] > MAX_UNITS:
            report.error(number, used, f"{sku} adds up to more than {MAX_UNITS} units; {sku} left unchanged")
            bad.add(sku)
    products = {p.sku: p.pk for p in Product.objects.filter(sku__in=list(totals)).only("pk", "sku")}
    for done, (sku, count) in enumerate(totals.items(), start=1):
        if sku in bad:
            report.counts["skipped"] += 1
            continue
        if sku not in products:
            report.error(first_row[sku], sku_col, f"unknown SKU {sku}: no product has it")
            report.counts["skipped"] += 1
            continue
        try:
            apply_stock_count(products[sku], count, reference="inventory CSV")
        except DataError as exc:
            report.error(first_row[sku], sku_col, f"{sku} could not be stored: {database_refusal(exc)}")
            report.counts["skipped"] += 1
            continue
        report.counts["updated"] += 1
        if done % 200 == 0:
            progress(int(len(rows) * done / len(totals)))
    progress(len(rows))


register(
    "inventory",
    import_inventory,
    label="Inventory (Shopify inventory export, or sku,on_hand)",
    help="One row per SKU (per location in Shopify's export); counts replace what is on hand.",
)
