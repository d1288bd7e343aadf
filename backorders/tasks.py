"""Background work for intake (django-q2). Tasks take ids, re-read their rows, and let errors out.

- ``process_delivery(delivery_id)``: apply one stored webhook delivery, in one transaction; a
  deadlock or serialization failure is retried with backoff; a delivery that needs a fact not
  there yet waits for it (``backorders.intake.waiting``).
- ``process_pending()``: apply received deliveries in batches, one transaction each (what a
  webhook queues; ``backorders.intake.batches``).
- ``process_received()``: pick up deliveries left ``received`` (an enqueue lost with a crash).
- ``retry_waiting()``: try again the waiting deliveries whose time has come.
- ``process_import(job_id)``: run a CSV import job, updating its progress row; resume one whose worker died.
- ``resume_imports()``: hand over import jobs whose worker died or whose enqueue was lost (a schedule).
- ``request_followup()``: enqueue the sweep after intake changed facts, at most one pending.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .intake import batches, waiting
from .intake.batches import PROCESSABLE
from .intake.common import q_options
from .models import ImportJob, TaskDebounce, WebhookDelivery

logger = logging.getLogger("backorders.intake")

# PostgreSQL's answers that mean "try the same transaction again": nothing was written
TRANSIENT_SQLSTATES = {"40P01": "deadlock detected", "40001": "serialization failure"}
TRANSIENT_ATTEMPTS = 5  # within the task, 1.5 to 3 s of pauses in all; then the delivery waits for a retry


def transient(exc: BaseException) -> bool:
    """A deadlock or serialization failure (PostgreSQL rolled the transaction back; running it again is safe)."""
    while exc is not None:
        if getattr(exc, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
        exc = exc.__cause__
    return False


def process_delivery(delivery_id: int) -> str:
    """Apply a stored delivery. All of its effects commit together, or none do.

    A deadlock or serialization failure rolls the attempt back and runs it again, up to
    ``TRANSIENT_ATTEMPTS`` times with a growing, jittered pause; if it still fails the delivery
    waits and the ``intake.retry_waiting`` schedule tries it later (never failed for good by a
    lock cycle). A delivery that needs a fact not kept yet waits for it. A payload that cannot be
    mapped is kept as ``failed`` with the reason (replay it with ``manage.py replay_webhooks``).
    Any other error is recorded the same way and then raised, so the queue shows it too. A
    delivery already processed, ignored or rejected is left alone.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return _process_once(delivery_id)
        except DatabaseError as exc:
            # inside a caller's transaction nothing can be run again: the whole of it was rolled back
            if not transient(exc) or connection.in_atomic_block:
                _record_failure(delivery_id, exc)
                raise
            if attempt < TRANSIENT_ATTEMPTS:
                pause = 0.05 * 2**attempt * (1 + random.random())  # jitter, so two retrying workers part
                logger.warning("Delivery %s: %s; trying again in %.2f s", delivery_id, exc, pause)
                time.sleep(pause)
                continue
            return _wait_after_transient(delivery_id, exc)
        except Exception as exc:
            _record_failure(delivery_id, exc)
            raise


def _process_once(delivery_id: int) -> str:
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status not in PROCESSABLE or not delivery.signature_valid:
            return delivery.status
        # never beside a batch applying a delivery of the same order or parcel
        batches.lock_keys(batches.ordering_keys(delivery), wait=True)
        status, changed = batches.apply_one(delivery)
        if changed:
            request_followup()
            # a fact this delivery brought may be what a parked delivery waits for
            transaction.on_commit(waiting.wake)
        return status


def process_pending(delivery_id: int | None = None, max_seconds: float | None = None) -> dict:
    """Apply received deliveries in batches until none is left (or ``max_seconds`` have passed).

    Each batch (``INTAKE_BATCH_SIZE`` deliveries, claimed with ``SKIP LOCKED``, so several clusters
    share the work) is one transaction; see ``backorders.intake.batches``. A deadlock or
    serialization failure runs the batch again with a pause; if it keeps failing, its deliveries go
    one by one through ``process_delivery``. ``delivery_id`` names the delivery that asked for this
    run: when it is not one a batch takes (a waiting delivery woken by its fact), it is applied
    after the batches. Returns counts by status.
    """
    started = time.monotonic()
    if max_seconds is None:
        # well inside the queue's task timeout, which would kill the task with a batch half applied
        max_seconds = min(settings.INTAKE_BATCH_SECONDS, settings.Q_CLUSTER.get("timeout", 120) / 3)
    budget = max_seconds
    totals: dict[str, int] = {}
    while True:
        result = _batch_with_retries(settings.INTAKE_BATCH_SIZE)
        for status, count in result.statuses.items():
            totals[status] = totals.get(status, 0) + count
        if result.changed:
            request_followup()
            waiting.wake()
        if not result.claimed or time.monotonic() - started > budget:
            break
    if (
        delivery_id is not None
        and WebhookDelivery.objects.filter(
            pk=delivery_id, status__in=PROCESSABLE - {WebhookDelivery.Status.RECEIVED}
        ).exists()
    ):
        status = process_delivery(delivery_id)
        totals[status] = totals.get(status, 0) + 1
    return totals


def _batch_with_retries(size: int) -> batches.BatchResult:
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            return batches.apply_batch(size)
        except DatabaseError as exc:
            if not transient(exc) or connection.in_atomic_block:
                raise
            pause = 0.05 * 2**attempt * (1 + random.random())
            logger.warning("Intake batch: %s; trying again in %.2f s", exc, pause)
            time.sleep(pause)
    # lock cycles kept coming back: one transaction a delivery, each with its own retries
    with transaction.atomic():
        ids, _ = batches.claim(size)
        ids = [d.pk for d in ids]
    result = batches.BatchResult(claimed=len(ids))
    for pk in ids:
        try:
            status = process_delivery(pk)
        except Exception:
            logger.exception("Delivery %s failed", pk)
            status = WebhookDelivery.Status.FAILED
        result.statuses[status] = result.statuses.get(status, 0) + 1
    return result


def _wait_after_transient(delivery_id: int, exc: BaseException) -> str:
    """Lock cycles kept coming back: the delivery waits for the schedule, with the reason, rather than failing."""
    reason = f"{type(exc).__name__}: {exc}".strip()
    logger.warning("Delivery %s: %s, %s times; it waits for a later try", delivery_id, reason, TRANSIENT_ATTEMPTS)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status not in PROCESSABLE:
            return delivery.status
        delivery.attempts += 1
        waiting.park(delivery, f"{reason} ({TRANSIENT_ATTEMPTS} tries)", now=timezone.now())
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["attempts", "status", "error", "processed_at", "waiting_for", "retry_at"])
        return delivery.status


def _record_failure(delivery_id: int, exc: BaseException) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.FAILED,
        error=f"{type(exc).__name__}: {exc}"[:2000],
        waiting_for="",
        retry_at=None,
        processed_at=timezone.now(),
    )


def retry_waiting(limit: int = 500) -> int:
    """Try again the waiting deliveries whose time has come (the ``intake.retry_waiting`` schedule)."""
    ids = waiting.due(limit)
    for delivery_id in ids:
        try:
            process_delivery(delivery_id)
        except Exception:
            logger.exception("Delivery %s failed on its retry", delivery_id)
    return len(ids)


def process_received(older_than_seconds: int = 60, limit: int = 500) -> int:
    """Process deliveries still ``received`` after a while (their enqueue was lost), oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in ids:
        try:
            process_delivery(delivery_id)
        except Exception:
            logger.exception("Delivery %s failed while catching up", delivery_id)
    if ids:
        logger.info("Processed %d stored deliveries that were never processed", len(ids))
    return len(ids)


def prune_deliveries(batch: int = 5000) -> int:
    """Scheduled daily: delete deliveries older than ``WEBHOOK_RETENTION_DAYS`` that are done with.

    Processed, ignored, duplicate, rejected and dismissed ones go; failed ones (and any still
    received or processing) stay until they are replayed or dismissed. Deleted in batches, so a
    large backlog never holds a long lock. Returns how many were deleted.
    """
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    done = WebhookDelivery.objects.filter(status__in=WebhookDelivery.PRUNABLE, received_at__lt=cutoff)
    deleted = 0
    while ids := list(done.order_by("pk").values_list("pk", flat=True)[:batch]):
        count, _ = WebhookDelivery.objects.filter(pk__in=ids).delete()
        deleted += count
    if deleted:
        logger.info("Pruned %s webhook deliveries older than %s days", deleted, settings.WEBHOOK_RETENTION_DAYS)
    return deleted


def process_import(job_id: int) -> str:
    """Run a pending import, or go on with one whose worker died (its lease ran out); else leave it."""
    from .intake.csv_import import run_job

    job = ImportJob.objects.defer("content", "checkpoint").get(pk=job_id)
    if job.is_finished:
        return job.status
    job = run_job(job)
    if job.summary.get("changed"):
        request_followup()
        waiting.wake()  # orders, products or parcels the file brought may be what deliveries wait for
    return job.status


def resume_imports() -> int:
    from .intake.import_lease import resume_stalled

    return resume_stalled()


# --------------------------------------------------------------------------- the follow-up (the sweep)


def request_followup() -> bool:
    """Enqueue ``settings.INTAKE_FOLLOWUP_TASK`` after commit, unless a run is already pending.

    The pending mark is claimed after the caller's transaction commits, in a statement of its
    own: the mark's row lock is never held beside the stock and order locks of the work that
    asked for it (a lock cycle through it, and a commit-time foreign-key check waiting on it,
    cannot happen). It clears when the run finishes (``followup_finished``); a mark older than the
    queue's retry window is taken as lost. The task is named by its dotted path, so this app
    never imports the one that owns it. An empty setting turns the follow-up off. Returns
    whether a follow-up was asked for.
    """
    task = settings.INTAKE_FOLLOWUP_TASK
    if not task:
        return False
    transaction.on_commit(lambda: _claim_followup(task))
    return True


def _claim_followup(task: str) -> bool:
    now = timezone.now()
    lost = now - timedelta(seconds=2 * settings.Q_CLUSTER.get("retry", 180))
    # one statement: the mark is made, or taken when idle or lost, or left alone
    table = connection.ops.quote_name(TaskDebounce._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (task, pending_since) VALUES (%s, %s) ON CONFLICT (task) DO UPDATE "  # noqa: S608
            f"SET pending_since = excluded.pending_since WHERE {table}.pending_since IS NULL "
            f"OR {table}.pending_since < %s RETURNING id",
            [task, now, lost],
        )
        claimed = cursor.fetchone() is not None
    if claimed:
        _enqueue_followup(task)
    return claimed


def _enqueue_followup(task: str) -> None:
    from .queueing import enqueue_stored

    # not taken (broker down): the mark is taken as lost after the retry window, and the schedule runs the task
    enqueue_stored(
        task,
        hook="backorders.tasks.followup_finished",
        task_name="intake-followup",
        q_options=q_options(),
        what="the intake follow-up",
    )


def followup_finished(result) -> None:
    """Hook run by django-q2 when the follow-up ends: clear the mark, and go again if facts changed since."""
    debounce = TaskDebounce.objects.filter(task=result.func).first()
    if debounce is None:
        return
    since = debounce.pending_since
    TaskDebounce.objects.filter(pk=debounce.pk).update(pending_since=None)
    # Facts that changed after the run was asked for may have committed after it started: go
    # again. A failed run is not chased in a loop; the next change or the schedule runs it again.
    changed_since = since and WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PROCESSED, processed_at__gt=since
    )
    if getattr(result, "success", True) and changed_since and changed_since.exists():
        request_followup()
