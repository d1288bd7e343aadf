"""Background work for intake (django-q2). Tasks take ids, re-read their rows, and let errors out.

- ``process_delivery(delivery_id)``: apply one stored webhook delivery, in one transaction.
- ``process_received()``: pick up deliveries left ``received`` (an enqueue lost with a crash).
- ``process_import(job_id)``: run a CSV import job, updating its progress row; resume one whose worker died.
- ``resume_imports()``: hand over import jobs whose worker died or whose enqueue was lost (a schedule).
- ``request_followup()``: enqueue the sweep after intake changed facts, at most one pending.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from .intake.common import MappingError, q_options
from .intake.dispatch import handle_delivery
from .models import ImportJob, TaskDebounce, WebhookDelivery

logger = logging.getLogger("backorders.intake")

# Errors a malformed payload raises inside an adapter; the inner savepoint is rolled back first.
SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError, DataError)
PROCESSABLE = {WebhookDelivery.Status.RECEIVED, WebhookDelivery.Status.PROCESSING, WebhookDelivery.Status.FAILED}


def process_delivery(delivery_id: int) -> str:
    """Apply a stored delivery. All of its effects commit together, or none do.

    A payload that cannot be mapped is kept as ``failed`` with the reason (replay it with
    ``manage.py replay_webhooks``). Any other error is recorded the same way and then raised, so
    the queue shows it too. A delivery already processed, ignored or rejected is left alone.
    """
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
            if delivery.status not in PROCESSABLE or not delivery.signature_valid:
                return delivery.status
            delivery.attempts += 1
            try:
                with transaction.atomic():
                    outcome = handle_delivery(delivery)
            except MappingError as exc:
                delivery.status, delivery.error = WebhookDelivery.Status.FAILED, str(exc)[:2000]
                logger.warning("Delivery %s could not be mapped: %s", delivery_id, exc)
                changed = False
            except SHAPE_ERRORS as exc:
                # a payload from outside whose shape the adapter did not expect (an object where
                # a list goes, a number too large for its column): failed with the reason, for replay
                reason = f"payload does not have the documented shape ({type(exc).__name__}: {exc})"
                delivery.status, delivery.error = WebhookDelivery.Status.FAILED, reason[:2000]
                logger.warning("Delivery %s could not be mapped: %s", delivery_id, reason, exc_info=True)
                changed = False
            else:
                delivery.status, delivery.error = outcome.status, outcome.note[:2000]
                changed = outcome.changed and outcome.status == WebhookDelivery.Status.PROCESSED
            delivery.processed_at = timezone.now()
            # the body and headers are kept as they came: only what processing decided is written
            delivery.save(
                update_fields=["attempts", "status", "error", "processed_at", "resource_id", "resource_updated_at"]
            )
            if changed:
                request_followup()
            return delivery.status
    except Exception as exc:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            processed_at=timezone.now(),
        )
        raise


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
    return job.status


def resume_imports() -> int:
    from .intake.import_lease import resume_stalled

    return resume_stalled()


# --------------------------------------------------------------------------- the follow-up (the sweep)


def request_followup() -> bool:
    """Enqueue ``settings.INTAKE_FOLLOWUP_TASK`` after commit, unless a run is already pending.

    The pending mark clears when the run finishes (``followup_finished``); a mark older than the
    queue's retry window is taken as lost. The task is named by its dotted path, so this app
    never imports the one that owns it. An empty setting turns the follow-up off.
    """
    task = settings.INTAKE_FOLLOWUP_TASK
    if not task:
        return False
    now = timezone.now()
    lost = now - timedelta(seconds=2 * settings.Q_CLUSTER.get("retry", 180))
    # one statement per delivery: the mark is made, or taken when idle or lost, or left alone
    table = connection.ops.quote_name(TaskDebounce._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (task, pending_since) VALUES (%s, %s) ON CONFLICT (task) DO UPDATE "  # noqa: S608
            f"SET pending_since = excluded.pending_since WHERE {table}.pending_since IS NULL "
            f"OR {table}.pending_since < %s RETURNING id",
            [task, now, lost],
        )
        claimed = cursor.fetchone() is not None
    if not claimed:
        return False
    transaction.on_commit(lambda: _enqueue_followup(task))
    return True


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
