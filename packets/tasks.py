"""django-q2 tasks of the decision side."""

from __future__ import annotations

from .refresh import refresh_cases as _refresh_cases
from .sweep import run_sweep as _run_sweep


def run_sweep() -> str:
    """The scheduled (and after-intake) reconcile. Errors propagate, so the queue records them."""
    return str(_run_sweep())


def refresh_cases(case_ids: list[int]) -> str:
    """Cases' packets brought up to date after a person or the customer acted on them."""
    return _refresh_cases(case_ids)
