"""django-q2 tasks of the decision side."""

from __future__ import annotations

import logging

from django.db import transaction

from backorders.intake.common import q_options
from packets.sweep.changed import sweep_changed
from packets.sweep.refresh import refresh_cases as _refresh_cases

from .sweep import run_after_sweep
from .sweep import run_sweep as _run_sweep

logger = logging.getLogger(__name__)

AFTER_SWEEP_TASK = "packets.tasks.after_sweep"


def _queue_after_sweep() -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(AFTER_SWEEP_TASK, task_name="after-sweep", q_options=q_options()))


def run_sweep() -> str:
    """The scheduled (and after-intake) sweep: the cases whose facts changed or whose clock fell
    due, then the message drafting queued as its own task. Errors propagate, so the queue records
    them. A sweep that changed something says so at INFO; one that found nothing to do, at DEBUG."""
    result = sweep_changed()
    logger.log(logging.INFO if result.changed else logging.DEBUG, "Sweep: %s", result)
    if result.claimed:  # something fell due: a fact changed, a cadence step or a deadline came
        _queue_after_sweep()
    return str(result)


def reconcile_all() -> str:
    """The nightly full reconcile, the safety net under the incremental runs: every case read and
    rebuilt; after correct incremental runs it changes nothing."""
    result = _run_sweep(hooks=False)
    logger.log(logging.WARNING if result.changed else logging.DEBUG, "Full reconcile: %s", result)
    if result.open_cases:
        _queue_after_sweep()
    return str(result)


def after_sweep() -> str:
    """Customer-message cadence, parcel updates and overdue replies, after the sweep committed."""
    run_after_sweep()
    return "drafted"


def refresh_cases(case_ids: list[int]) -> str:
    """Cases' packets brought up to date after a person or the customer acted on them."""
    return _refresh_cases(case_ids)
