"""django-q2 tasks of the decision side."""

from __future__ import annotations

import logging

from packets.sweep.refresh import refresh_cases as _refresh_cases

from .sweep import run_sweep as _run_sweep

logger = logging.getLogger(__name__)


def run_sweep() -> str:
    """The scheduled (and after-intake) reconcile. Errors propagate, so the queue records them.
    A sweep that changed something says so at INFO; one that found nothing to do, at DEBUG."""
    result = _run_sweep()
    logger.log(logging.INFO if result.changed else logging.DEBUG, "Sweep: %s", result)
    return str(result)


def refresh_cases(case_ids: list[int]) -> str:
    """Cases' packets brought up to date after a person or the customer acted on them."""
    return _refresh_cases(case_ids)
