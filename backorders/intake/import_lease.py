"""Import jobs that survive their worker: a lease with a heartbeat, checkpoints, and the resume.

* A worker takes a job with ``claim(job_id)``: a pending job, or a running one whose lease ran out
  (its worker died: SIGKILL, out of memory, a machine lost). The lease is a token and a time; a
  thread renews it every quarter of ``IMPORT_LEASE_SECONDS`` while the import runs (``heartbeat``).
* An importer that writes in batches commits a checkpoint in each batch's own transaction
  (``write_in_batches``): the batch number, the rows done and the report so far. The checkpoint is
  written only while the token still holds the lease, so a worker presumed dead that wakes up
  cannot write a batch a second time: its transaction is rolled back (``LeaseLost``).
* A worker that takes over reads the file again, checks every row again (the same errors come out),
  puts back the report of the committed batches and goes on with the next batch, so the totals are
  those of one uninterrupted run.
* ``resume_stalled()`` runs on the ``imports.resume`` schedule: it hands to the queue every running
  job whose lease ran out and every pending job whose enqueue was lost. After ``IMPORT_MAX_RESUMES``
  take-overs a job is failed instead, with the reason, for a person to look at.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..models import ImportJob

logger = logging.getLogger("backorders.intake")


class LeaseLost(Exception):
    """Another worker took the job over: this one must stop writing."""


def lease_seconds() -> int:
    return settings.IMPORT_LEASE_SECONDS


@dataclass
class Lease:
    job_id: int
    token: str
    batches_done: int = 0
    saved: dict = field(default_factory=dict)
    lost: threading.Event = field(default_factory=threading.Event)

    def mine(self):
        return ImportJob.objects.filter(pk=self.job_id, lease_token=self.token, status=ImportJob.Status.RUNNING)

    def restore(self, report) -> None:
        """Put back the report as it stood at the last committed batch."""
        report.entries[:] = list(self.saved.get("entries", []))
        report.counts.clear()
        report.counts.update(Counter(self.saved.get("counts", {})))

    def commit(self, batches: int, rows: int, report) -> None:
        """Record a written batch; call it inside the batch's transaction. Raises ``LeaseLost``."""
        now = timezone.now()
        checkpoint = {"batches": batches, "rows": rows, "entries": report.entries, "counts": dict(report.counts)}
        updated = self.mine().update(
            checkpoint=checkpoint,
            processed_rows=rows,
            heartbeat_at=now,
            lease_until=now + timedelta(seconds=lease_seconds()),
        )
        if not updated:
            self.lost.set()
            raise LeaseLost(f"import {self.job_id} was taken over by another worker")
        self.batches_done = batches


def claim(job_id: int) -> Lease | None:
    """Take a pending job, or a running one whose lease ran out; None when someone else holds it."""
    now = timezone.now()
    token = uuid.uuid4().hex
    until = now + timedelta(seconds=lease_seconds())
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True)
            .defer("content")
            .filter(pk=job_id)
            .filter(Q(status=ImportJob.Status.PENDING) | _stalled(now))
            .first()
        )
        if job is None:
            return None
        if job.status == ImportJob.Status.PENDING:
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.RUNNING, started_at=now, lease_token=token, lease_until=until, heartbeat_at=now
            )
            return Lease(job.pk, token)
        done = job.checkpoint.get("rows", 0)
        last_seen = job.heartbeat_at or job.started_at or job.created_at
        stopped = (
            f"The worker running this import stopped at {done:,} of {job.total_rows:,} rows "
            f"(last heard from at {last_seen:%Y-%m-%d %H:%M:%S} UTC)"
        )
        if job.resumes >= settings.IMPORT_MAX_RESUMES:
            error = f"{stopped}, and it has been resumed {job.resumes} times already; import the rest again by hand"
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.FAILED,
                error=error,
                finished_at=now,
                lease_token="",
                summary={**job.checkpoint.get("counts", {})},
                errors=job.checkpoint.get("entries", []),
                note=_noted(job.note, stopped + "."),
            )
            logger.error("Import %s failed: %s", job.pk, error)
            return None
        resumed = f"{stopped}; resumed at {now:%Y-%m-%d %H:%M:%S} UTC from the last committed batch."
        ImportJob.objects.filter(pk=job.pk).update(
            lease_token=token,
            lease_until=until,
            heartbeat_at=now,
            resumes=F("resumes") + 1,
            processed_rows=min(done, job.total_rows) if job.total_rows else 0,
            note=_noted(job.note, resumed),
        )
        logger.warning("Import %s: %s", job.pk, resumed)
        return Lease(job.pk, token, batches_done=job.checkpoint.get("batches", 0), saved=job.checkpoint)


def _stalled(now) -> Q:
    """Running with its lease run out; or, started before jobs held leases, running past the queue's window."""
    lost_before = now - timedelta(seconds=max(lease_seconds(), int(settings.Q_CLUSTER["retry"])))
    return Q(status=ImportJob.Status.RUNNING) & (
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, started_at__lt=lost_before)
    )


def _noted(note: str, line: str) -> str:
    return f"{note}\n{line}" if note else line


@contextlib.contextmanager
def heartbeat(lease: Lease) -> Iterator[None]:
    """Renew the lease from a thread of its own while the block runs; stop when it is lost."""
    stop = threading.Event()
    interval = max(0.5, lease_seconds() / 4)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                now = timezone.now()
                renewed = lease.mine().update(heartbeat_at=now, lease_until=now + timedelta(seconds=lease_seconds()))
                if not renewed:
                    lease.lost.set()
                    return
        except Exception:  # the import itself will meet the same trouble and report it
            logger.exception("Import %s: the lease could not be renewed", lease.job_id)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"import-{lease.job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def write_in_batches(
    batches: list[list],
    write: Callable[[list, object], None],
    report,
    progress,
    *,
    done: int,
    size: Callable[[list], int],
) -> None:
    """Write each batch in one transaction with its checkpoint; on a resume, skip the committed ones.

    ``done`` is the rows already accounted for before the first batch (rows that were refused while
    reading); ``size(batch)`` the rows a batch covers.
    """
    lease: Lease | None = getattr(progress, "lease", None)
    skip = lease.batches_done if lease is not None else 0
    if skip:
        lease.restore(report)
    for number, batch in enumerate(batches, start=1):
        done += size(batch)
        if number <= skip:
            continue
        with transaction.atomic():
            write(batch, report)
            if lease is not None:
                lease.commit(number, done, report)
        progress(done)


def resume_stalled(limit: int = 20) -> int:
    """Scheduled: hand to the queue each running job whose lease ran out and each pending job never taken.

    The task's own ``claim`` decides who runs each, so a job handed over twice still runs once.
    """
    from ..queueing import enqueue_stored
    from .common import q_options

    now = timezone.now()
    lost_before = now - timedelta(seconds=max(lease_seconds(), int(settings.Q_CLUSTER["retry"])))
    ids = list(
        ImportJob.objects.filter(_stalled(now) | Q(status=ImportJob.Status.PENDING, created_at__lt=lost_before))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for job_id in ids:
        enqueue_stored(
            "backorders.tasks.process_import",
            job_id,
            task_name=f"import-{job_id}",
            q_options=q_options(),
            what=f"import {job_id}",
        )
    return len(ids)
