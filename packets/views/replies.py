"""The unmatched replies page: customer emails no reply address, thread or customer address tied to
a case. Staff (the owner and support) read each one and attach it to its case; it then lands there
as a matched reply would (read, scored, the packet refreshed)."""

from __future__ import annotations

from anymail.inbound import AnymailInboundMessage
from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from backorders.roles import is_staff_member
from packets.models import InboundMail
from packets.notify import replies

SHOWN = 100


class AttachForm(forms.Form):
    case_id = forms.IntegerField(min_value=1, max_value=2**31 - 1, label="Case number")


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff see customer replies.")


def _page(request: HttpRequest, *, errors: dict[int, list[str]] | None = None, status: int = 200) -> HttpResponse:
    rows = list(InboundMail.objects.filter(status=InboundMail.Status.UNMATCHED).order_by("-received_at", "-id")[:SHOWN])
    for row in rows:
        row.words = replies.words_of(row, AnymailInboundMessage.parse_raw_mime(row.raw))[:2000]
        row.errors = (errors or {}).get(row.pk, [])
    return render(request, "packets/unmatched_replies.html", {"rows": rows, "shown": SHOWN}, status=status)


@require_GET
def unmatched_replies(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    return _page(request)


@require_POST
def attach_reply(request: HttpRequest, mail_id: int) -> HttpResponse:
    _require_staff(request)
    form = AttachForm(request.POST)
    if not form.is_valid():
        return _page(request, errors={mail_id: [e for errs in form.errors.values() for e in errs]}, status=400)
    try:
        inbound = replies.attach(mail_id, form.cleaned_data["case_id"], request.user)
    except ValueError as exc:
        return _page(request, errors={mail_id: [str(exc)]}, status=400)
    flash.success(request, f"Attached to case {inbound.case_id}.")
    return redirect(reverse("packets:unmatched-replies"))
