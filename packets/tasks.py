"""django-q2 tasks of the decision side."""

from __future__ import annotations

from .refresh import refresh_case as _refresh_case
from .sweep import run_sweep as _run_sweep


def run_sweep() -> str:
    """The scheduled (and after-intake) reconcile. Errors propagate, so the queue records them."""
    return str(_run_sweep())


def refresh_case(case_id: int) -> str:
    """One case's packet brought up to date after a person or the customer acted on it."""
    return _refresh_case(case_id)
