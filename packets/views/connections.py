"""The owner's Connections page: what is configured, when it last worked, and a test button."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from backorders.roles import is_owner
from packets.audit import record_refusal
from packets.integrations import connections as conn
from packets.models import AuditEvent


def _require_owner(request: HttpRequest, action: str) -> None:
    if not is_owner(request.user):
        reason = "Only an owner can see and test the store's connections."
        record_refusal(request, action, reason)
        raise PermissionDenied(reason)


@require_GET
def connection_list(request: HttpRequest) -> HttpResponse:
    _require_owner(request, "connections.view")
    context = {"connections": conn.with_last_tests(conn.connections()), "subscriptions": conn.subscriptions()}
    return render(request, "packets/connections.html", context)


@require_POST
def connection_test(request: HttpRequest, name: str) -> HttpResponse:
    _require_owner(request, "connections.test")
    if name not in conn.TESTS:
        raise Http404("No such connection")
    try:
        answer, ok = conn.run_test(name), True
    except conn.TestFailed as exc:
        answer, ok = str(exc), False
    AuditEvent.record(
        "connection.tested",
        actor=request.user,
        summary=f"{name}: {'works' if ok else 'failed'}: {answer}"[:500],
        name=name,
        ok=ok,
    )
    (messages.success if ok else messages.error)(request, f"{name}: {answer}")
    return redirect("packets:connections")
