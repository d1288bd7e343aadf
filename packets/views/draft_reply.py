"""The case page's "Draft a reply": a machine-drafted customer reply, stored as a draft for a person
to check and approve (``packets.notify.machine_draft``). Offered only while drafting is configured."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from backorders.roles import is_staff_member
from packets.models import Case
from packets.notify import machine_draft


@require_POST
def case_draft_reply(request: HttpRequest, case_id: int) -> HttpResponse:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff draft replies.")
    if not machine_draft.configured():
        raise Http404("Machine drafting is off")
    case = get_object_or_404(Case, pk=case_id)
    try:
        message = machine_draft.draft_reply(case.pk, request.user)
    except machine_draft.DraftUnavailable as exc:
        flash.error(request, f"No draft: {exc}")
        return redirect(reverse("packets:case-detail", args=[case.pk]) + "#messages")
    if message.guideline_issues:
        flash.warning(
            request,
            "Machine-drafted reply stored, but it breaks the store's guidelines: edit it or cancel it; "
            "it cannot be approved as it is.",
        )
    else:
        flash.success(request, "Machine-drafted reply stored as a draft: read it before you approve it.")
    return redirect(reverse("packets:case-detail", args=[case.pk]) + "#messages")
