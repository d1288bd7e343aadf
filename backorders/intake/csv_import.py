"""CSV imports: the registry of kinds, reading a file, the per-row report, and running a job.

Every kind is a function ``run(rows, report, progress)`` registered under a name:

    from backorders.intake.csv_import import register
    register("purchase-history", import_purchase_history, label="Purchase history")

``rows`` is a list of ``(row_number, {column: value})`` with the header as row 1, so numbers
match what a spreadsheet shows. The importer writes problems to ``report`` (row, column,
reason), keeps every valid row, and calls ``progress(rows_done)`` now and then. It must leave
nothing half-written: one transaction per order, per stock count, per scan.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backorders.formats import csv_safe

from ..bulk import paused_gc
from ..models import ImportJob
from .import_lease import Lease, LeaseLost, claim, heartbeat

Progress = Callable[[int], None]

logger = logging.getLogger("backorders.intake")

# The most units a count or a quantity can be: the database keeps them as 32-bit integers.
MAX_UNITS = 2**31 - 1
# Times outside these years are typing slips (0001, 9999) that the database or Python cannot hold.
YEARS = range(1900, 2200)


class ImportFileError(Exception):
    """The file as a whole cannot be read as this kind (not UTF-8, columns missing)."""


@dataclass
class Report:
    entries: list[dict] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def error(self, row: int, column: str, reason: str) -> None:
        self.entries.append({"row": row, "column": column, "reason": reason, "level": "error"})

    def flag(self, row: int, column: str, reason: str) -> None:
        self.entries.append({"row": row, "column": column, "reason": reason, "level": "flag"})

    @property
    def error_count(self) -> int:
        return sum(1 for e in self.entries if e["level"] == "error")

    def summary(self) -> dict:
        return {
            **dict(self.counts),
            "errors": self.error_count,
            "flags": len(self.entries) - self.error_count,
            "changed": bool(self.counts.get("created") or self.counts.get("updated")),
        }


@dataclass(frozen=True)
class Importer:
    kind: str
    run: Callable[[Rows, Report, Progress], None]
    label: str
    help: str = ""


IMPORTERS: dict[str, Importer] = {}


def register(kind: str, run: Callable[[Rows, Report, Progress], None], *, label: str, help: str = "") -> None:
    IMPORTERS[kind] = Importer(kind=kind, run=run, label=label, help=help)


def importers() -> dict[str, Importer]:
    """The registered kinds: the store's own register when the app is ready, other apps in theirs."""
    return IMPORTERS


# --------------------------------------------------------------------------- reading


class Row(Mapping):
    """One record as ``{column: value}``, values stripped of surrounding blanks.

    The values stay in the list the CSV reader made, beside one column index shared by every row
    of the file: a 100,000-row export with 80 columns costs a list per row, not a dict.
    """

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: list[str]):
        self._index, self._values = index, values

    def __getitem__(self, column: str) -> str:
        return self._values[self._index[column]].strip()

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return repr(dict(self))


Rows = list[tuple[int, Row]]


def read_rows(content: bytes) -> tuple[list[str], Rows]:
    try:
        textual = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8 text (byte {exc.start}); export it as CSV UTF-8") from None
    if "\x00" in textual:
        line = textual.count("\n", 0, textual.index("\x00")) + 1
        raise ImportFileError(
            f"line {line} holds a NUL byte, which no text CSV has (a UTF-16 file does); export it as CSV UTF-8"
        )
    with paused_gc():
        return _read(textual)


def _read(textual: str) -> tuple[list[str], Rows]:
    reader = csv.reader(io.StringIO(textual, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    except csv.Error as exc:
        raise ImportFileError(f"the header row is not CSV: {exc}") from None
    if not any(header):
        raise ImportFileError("the first row (the header) is empty")
    index = {name: position for position, name in enumerate(header) if name}  # a repeated name: the last one
    width = len(header)
    rows: Rows = []
    try:
        # rows are numbered as a spreadsheet shows them: one per record, the header is row 1
        for number, values in enumerate(reader, start=2):
            if not any(map(str.strip, values)):
                continue
            if len(values) < width:
                values += [""] * (width - len(values))
            rows.append((number, Row(index, values)))
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num} is not CSV: {exc}") from None
    return header, rows


def database_refusal(exc: DatabaseError) -> str:
    """The database's own words for a value it refused (too long, out of range), for the report."""
    cause = exc.__cause__ or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(exc).__name__


def column(header_or_row, *names: str) -> str | None:
    """The first of ``names`` present, matched without regard to case; its exact spelling."""
    keys = list(header_or_row)
    lowered = {k.lower(): k for k in keys}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def parse_time(value: str) -> datetime | None:
    """Shopify's ``2026-09-03 10:15:00 -0400``, ISO 8601, or a local time in the store's zone.

    None when the value is none of these, names a day that does not exist, or falls outside ``YEARS``.
    """
    value = value.strip()
    if not value:
        return None
    parsed = None
    if len(value) == 25 and value[19] == " " and value[20] in "+-":
        with contextlib.suppress(ValueError):  # the export's own shape: read in a tenth of strptime's time
            parsed = datetime.fromisoformat(value[:19] + value[20:])
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z"):
        if parsed is not None:
            break
        with contextlib.suppress(ValueError):
            parsed = datetime.strptime(value, fmt)
    if parsed is None:
        try:
            parsed = parse_datetime(value.replace("Z", "+00:00"))
        except ValueError:  # well formed, but no such day or hour (2026-02-30)
            return None
    if parsed is None:
        for fmt in ("%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y"):
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                pass
    if parsed is None:
        return None
    if parsed.year not in YEARS:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.STORE_TIME_ZONE))
    return parsed


# --------------------------------------------------------------------------- the report file


def report_csv(entries: list[dict]) -> str:
    out = io.StringIO()
    writer = csv_safe.writer(out)
    writer.writerow(["row", "column", "level", "reason"])
    for e in entries:
        writer.writerow([e.get("row"), e.get("column"), e.get("level"), e.get("reason")])
    return out.getvalue()


# --------------------------------------------------------------------------- running a job


def run_job(job: ImportJob) -> ImportJob:
    """Import the job's file with its kind's importer, keeping progress and the report on the row.

    The job is taken with a lease renewed by a heartbeat (``import_lease``): a job that another
    worker holds is left to it, and one whose worker died goes on from its last committed batch.
    """
    lease = claim(job.pk)
    if lease is None:
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    try:
        with heartbeat(lease):
            return _run(job, lease)
    except LeaseLost as exc:
        logger.warning("%s; this worker stops", exc)
        job.refresh_from_db()
        return job


def _run(job: ImportJob, lease: Lease) -> ImportJob:
    importer = importers().get(job.kind)
    try:
        if importer is None:
            raise ImportFileError(f"there is no importer for {job.kind!r}")
        _, rows = read_rows(bytes(job.content))
    except ImportFileError as exc:
        return _finish(job, lease, ImportJob.Status.FAILED, error=str(exc))
    job.total_rows = len(rows)
    lease.mine().update(total_rows=job.total_rows)
    report = Report()
    progress = JobProgress(job, lease)
    try:
        importer.run(rows, report, progress)
    except ImportFileError as exc:
        return _finish(job, lease, ImportJob.Status.FAILED, error=str(exc), report=report)
    except LeaseLost:
        raise
    except Exception as exc:
        _finish(job, lease, ImportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}", report=report)
        raise
    job.processed_rows = job.total_rows
    return _finish(job, lease, ImportJob.Status.DONE, report=report)


class JobProgress:
    """``progress(rows_done)`` for an importer, carrying the job's lease for importers that checkpoint."""

    def __init__(self, job: ImportJob, lease: Lease):
        self.job, self.lease = job, lease

    def __call__(self, done: int) -> None:
        self.lease.mine().update(processed_rows=min(done, self.job.total_rows))


def _finish(job: ImportJob, lease: Lease, status: str, *, error: str = "", report: Report | None = None) -> ImportJob:
    job.status, job.error, job.finished_at = status, error, timezone.now()
    if report is not None:
        job.summary, job.errors = report.summary(), report.entries
    fields = {name: getattr(job, name) for name in ("status", "error", "finished_at", "summary", "errors")}
    if status == ImportJob.Status.DONE:
        fields["processed_rows"] = job.processed_rows
    # only while this worker holds the lease: one that was taken over leaves the job to the new holder
    if not lease.mine().update(**fields, lease_token="", lease_until=None, checkpoint={}):
        job.refresh_from_db()
    return job
