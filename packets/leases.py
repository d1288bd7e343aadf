"""Handing due and lost work back to the queue, for the outbox tables that run through a task.

A row is due when its wait (``next_attempt_at``) has passed, or when it never got one and is older
than the queue's redelivery window (its enqueue was lost). A row left in its running status longer
than that window belongs to a worker that died. The rows handed back get a lease of one window, so
the next scheduled run does not enqueue them again while their tasks wait for a worker; the task's
own claim decides who runs each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)


def hand_back_due(
    model: type[models.Model],
    *,
    waiting: Iterable[str],
    running: str,
    started_field: str,
    enqueue: Callable[[int], object],
    limit: int,
    held: Q | None = None,
) -> int:
    """Enqueue up to ``limit`` due or lost rows of ``model`` after commit; returns how many.
    Rows matching ``held`` (waiting on something else) are left alone."""
    now = timezone.now()
    window = timedelta(seconds=int(settings.Q_CLUSTER["retry"]))
    lost_before = now - window
    due = Q(status__in=list(waiting)) & (
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=lost_before)
    )
    stuck = Q(status=running, **{f"{started_field}__lt": lost_before})
    rows = model.objects.select_for_update(skip_locked=True).filter(due | stuck)
    if held is not None:
        rows = rows.exclude(held)
    with transaction.atomic():
        ids = list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
        if ids:
            model.objects.filter(pk__in=ids).exclude(status=running).update(next_attempt_at=now + window)
            transaction.on_commit(lambda: [enqueue(pk) for pk in ids])
            logger.info("Handed %d due %s row(s) back to the queue", len(ids), model._meta.verbose_name)
    return len(ids)
