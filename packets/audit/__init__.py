"""The record of what happened: audit rows, packet PDFs, the timeline picture, exports and bundles.

* here: small helpers for writing audit rows from views (``record_refusal``);
* ``pdf``: HTML to PDF with a fetcher that reads nothing but our own assets;
* ``export``: which packet version a case prints, and audit bundles of many cases;
* ``tasks``: the worker task that renders a bundle;
* ``timeline``: the case on one time axis, as an SVG picture.

The audit rows themselves are ``packets.models.AuditEvent`` (append-only).
"""

from __future__ import annotations

from django.http import HttpRequest

from packets.models import AuditEvent, Case


def record_refusal(request: HttpRequest, action: str, reason: str, *, case: Case | None = None) -> AuditEvent:
    """Record that the server refused ``action`` to the requesting user, and why.

    Call it where a role check fails, just before raising ``PermissionDenied``:

        if not is_owner(request.user):
            record_refusal(request, "decision.approve", "Only the owner approves refunds.", case=case)
            raise PermissionDenied("Only the owner approves refunds.")
    """
    return AuditEvent.record(
        "access.refused",
        actor=request.user,
        case=case,
        summary=f"Refused {action}: {reason}",
        refused_action=action,
        reason=reason,
        method=request.method,
        path=request.get_full_path()[:500],
        ip=request.META.get("REMOTE_ADDR", ""),
    )
