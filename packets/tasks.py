"""django-q2 tasks of the decision side."""

from __future__ import annotations

from .sweep import run_sweep as _run_sweep


def run_sweep() -> str:
    """The scheduled (and after-intake) reconcile. Errors propagate, so the queue records them."""
    return str(_run_sweep())
