"""Refreshing a case's packet at once, after a person or the customer acted on it.

A decision, an outcome, an approved message or a customer's cancellation from their order page
changes what the case should say (a cancelled order's case stops recommending an update). The
verb that made the change calls ``refresh_after_commit(case_id)``: once its transaction commits,
the worker runs ``refresh_cases`` for that case (the sweep's reconcile scoped to the cases' keys,
serialised with the scheduled sweep), instead of waiting up to the schedule's five minutes.

Inside ``refreshing_together()`` (the bulk verbs), the cases are gathered and refreshed by one
task at the end: a bulk approval of a hundred drafts reads the facts once, not a hundred times.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

from backorders.intake.common import q_options
from packets.models import Case
from packets.sweep import run_sweep
from packets.sweep.dirty import mark_cases
from packets.sweep.load import SWEPT_PREFIXES

REFRESH_TASK = "packets.tasks.refresh_cases"

_gathering: ContextVar[set[int] | None] = ContextVar("cases_to_refresh", default=None)


def refresh_cases(case_ids: Iterable[int]) -> str:
    """Bring these cases (and their packets) in line with the facts now. Returns what happened."""
    keys = [
        key
        for key in Case.objects.filter(pk__in=list(case_ids)).values_list("dedupe_key", flat=True)
        if key.startswith(SWEPT_PREFIXES)
    ]
    if not keys:
        return "nothing to refresh: no case the sweep keeps"
    return str(run_sweep(only=keys))


def refresh_case(case_id: int) -> str:
    return refresh_cases([case_id])


def _enqueue(case_ids: list[int]) -> None:
    from django_q.tasks import async_task

    name = f"refresh-cases-{case_ids[0]}" + (f"-and-{len(case_ids) - 1}-more" if len(case_ids) > 1 else "")
    async_task(REFRESH_TASK, case_ids, task_name=name, q_options=q_options())


def refresh_after_commit(case_id: int | None) -> None:
    """Queue a refresh of the case once the current transaction commits (nothing when it rolls
    back); inside ``refreshing_together`` the case joins the one refresh at its end."""
    if case_id is None:
        return
    mark_cases([case_id])  # in the verb's transaction: the scheduled sweep rebuilds it should the task be lost
    gathered = _gathering.get()
    if gathered is not None:
        gathered.add(case_id)
        return
    transaction.on_commit(lambda: _enqueue([case_id]))


@contextmanager
def refreshing_together() -> Iterator[None]:
    """Gather the refreshes the verbs inside ask for and queue them as one task at the end."""
    if _gathering.get() is not None:  # already gathering: the outer block queues them
        yield
        return
    gathered: set[int] = set()
    token = _gathering.set(gathered)
    try:
        yield
    finally:
        _gathering.reset(token)
        if gathered:
            ids = sorted(gathered)
            transaction.on_commit(lambda: _enqueue(ids))
