"""The incremental sweep: rebuild only the cases the dirty keys reach, a batch at a time.

Each batch is one transaction: claim up to ``SWEEP_BATCH_KEYS`` due keys (``FOR UPDATE SKIP
LOCKED``: rows another run holds are left to it) and delete them, expand them to the cases they
reach, hold those cases' advisory locks (two runs reaching one case rebuild it in turn), read
the facts of that scope only, reconcile those cases as the full run would, and set their clocks.
A failure rolls the batch back: its keys are due again for the next run. Several worker clusters
can run it at once; the full run (``run_sweep``) waits for them (and they for it) through the
shared/exclusive sweep lock.

On SQLite (development) there is no ``SKIP LOCKED`` and no trigger writes keys: every run is the
full reconcile.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from backorders.bulk import paused_gc
from packets.sweep import LOCK_KEY, SweepResult, reconcile, run_sweep
from packets.sweep.clock import write_clock
from packets.sweep.dirty import ALL, claim, expand, lock_keys
from packets.sweep.load import load


class _FullRunNeeded(Exception):
    """The store policy changed: every case reads it, so the batch gives way to a full run."""


def shares_keys() -> bool:
    """Triggers mark keys and ``SKIP LOCKED`` shares them: PostgreSQL."""
    return connection.vendor == "postgresql"


def batch_size() -> int:
    return settings.SWEEP_BATCH_KEYS


@paused_gc()
def sweep_changed(
    now: datetime | None = None, *, batch: int | None = None, max_batches: int | None = None
) -> SweepResult:
    """Rebuild the cases whose facts changed or whose clock fell due, a batch at a time, until a
    batch finds fewer keys than it could take (or ``max_batches`` ran). Returns their sum."""
    started = time.monotonic()
    now = now or timezone.now()
    if not shares_keys():
        return run_sweep(now, hooks=False)
    total = SweepResult()
    batch = batch or batch_size()
    batches = 0
    while max_batches is None or batches < max_batches:
        try:
            part = sweep_batch(now, batch)
        except _FullRunNeeded:
            part = run_sweep(now, hooks=False)
            part.claimed, part.more = [ALL], False
        if part is None:
            break
        total.add(part)
        batches += 1
        if not part.more:  # the queue ran dry: what intake marks meanwhile is the next run's
            break
    total.seconds = time.monotonic() - started
    return total


def sweep_batch(now: datetime, batch: int) -> SweepResult | None:
    """One batch in one transaction; None when no key is due."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_KEY])
        keys = claim(now, batch)
        if not keys:
            return None
        if ALL in keys:
            raise _FullRunNeeded  # rolls the claim back; the full run settles every due key
        scope = expand(keys, now)
        lock_keys(scope.keys)
        snap = load(now, scope)
        result = SweepResult(claimed=list(keys), rebuilt=len(scope.keys))
        result.more = keys.more
        desired = reconcile(snap, scope.keys, result)
        write_clock(snap, set(desired), scope.keys)
    return result
