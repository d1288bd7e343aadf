"""Refreshing one case's packet at once, after a person or the customer acted on it.

A decision, an outcome, an approved message or a customer's cancellation from their order page
changes what the case should say (a cancelled order's case stops recommending an update). The
verb that made the change calls ``refresh_after_commit(case_id)``: once its transaction commits,
the worker runs ``refresh_case`` for that case alone (the sweep's reconcile scoped to the case's
key, serialised with the scheduled sweep), instead of waiting up to the schedule's five minutes.
"""

from __future__ import annotations

from django.db import transaction

from backorders.intake.common import q_options

from .models import Case
from .sweep import run_sweep
from .sweep_load import SWEPT_PREFIXES

REFRESH_TASK = "packets.tasks.refresh_case"


def refresh_case(case_id: int) -> str:
    """Bring this case (and its packet) in line with the facts now. Returns what happened."""
    key = Case.objects.filter(pk=case_id).values_list("dedupe_key", flat=True).first()
    if key is None:
        return "no such case"
    if not key.startswith(SWEPT_PREFIXES):
        return "not a case the sweep keeps"
    return str(run_sweep(only=key))


def refresh_after_commit(case_id: int | None) -> None:
    """Queue ``refresh_case`` for the case once the current transaction commits (nothing when it
    rolls back). Call it once per verb; two refreshes of one case do the work once (idempotent)."""
    if case_id is None:
        return

    def enqueue() -> None:
        from django_q.tasks import async_task

        async_task(REFRESH_TASK, case_id, task_name=f"refresh-case-{case_id}", q_options=q_options())

    transaction.on_commit(enqueue)
