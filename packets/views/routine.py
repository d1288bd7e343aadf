"""Accepting in one step: the case page's "Accept" and the owner's routine view with "Accept all".

The verbs live in ``packets.accept``; these views read the form, call them and move on: after
accepting a case the page goes to the next case of the queue view the person came from.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from backorders.models import StorePolicy
from backorders.roles import is_staff_member
from packets import accept as verbs
from packets.models import Case, IllegalTransition
from packets.queue import QueueFilterForm, queue

PAGE_SIZE = 25
REPORT_NAMES = 40  # order numbers listed in one flash line before "and N more"


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can see cases.")


def queue_origin(value: str | None) -> str:
    """The queue view a case was opened from, when it is one of this site's queue pages; else ''."""
    value = value or ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return ""
    if parts.path not in (reverse("packets:case-list"), reverse("packets:routine-list")):
        return ""
    return value


def case_url(case_id: int, origin: str) -> str:
    url = reverse("packets:case-detail", args=[case_id])
    return f"{url}?{urlencode({'from': origin})}" if origin else url


def next_case_id(request: HttpRequest, origin: str, after: int) -> int | None:
    """The first case the queue view shows now, other than the one just done."""
    parts = urlsplit(origin)
    if parts.path == reverse("packets:routine-list"):
        ids = (a.case.pk for a in verbs.routine_cases(request.user))
        return next((pk for pk in ids if pk != after), None)
    form = QueueFilterForm(QueryDict(parts.query))
    if not form.is_valid():
        return None
    urgent = form.cleaned_data.get("view") == "urgent"
    leave_out = [a.case.pk for a in verbs.routine_cases(request.user)] if urgent else []
    cases, *_ = queue(form, leave_out=leave_out)
    return cases.exclude(pk=after).values_list("pk", flat=True).first()


@require_POST
def case_accept(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_staff(request)
    case = get_object_or_404(Case, pk=case_id)
    origin = queue_origin(request.POST.get("from"))
    try:
        version = int(request.POST.get("packet_version", ""))
        message_ids = [int(v) for v in request.POST.getlist("message_ids")]
    except ValueError:
        flash.error(request, "The accept form was incomplete; reload the page and try again.")
        return redirect(case_url(case.pk, origin))
    try:
        decision = verbs.accept(
            case.pk, request.user, packet_version=version, message_ids=message_ids, note=request.POST.get("note")
        )
    except (ValidationError, PermissionDenied, IllegalTransition) as exc:
        errors = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        for error in errors:
            flash.error(request, error)
        return redirect(case_url(case.pk, origin))
    sent = f" and approved {len(message_ids)} message{'s' if len(message_ids) != 1 else ''}" if message_ids else ""
    flash.success(request, f"Accepted on {verbs.order_label(case)}: {decision.get_action_display()}{sent}.")
    if origin:
        following = next_case_id(request, origin, case.pk)
        return redirect(case_url(following, origin) if following else origin)
    return redirect(case_url(case.pk, origin))


@require_GET
def routine_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    policy = StorePolicy.objects.current()
    routine = verbs.routine_cases(request.user, policy)
    page = Paginator(routine, PAGE_SIZE).get_page(request.GET.get("page"))
    origin = reverse("packets:routine-list")
    rows = [(acceptance, case_url(acceptance.case.pk, origin)) for acceptance in page.object_list]
    return render(
        request, "packets/routine_list.html", {"page": page, "rows": rows, "routine": routine, "policy": policy}
    )


def _shown(post: QueryDict) -> dict[int, tuple[int, list[int]]]:
    """``case`` values are ``<case id>:<packet version>``; ``message`` values ``<case id>:<message id>``."""
    shown: dict[int, tuple[int, list[int]]] = {}
    for value in post.getlist("case"):
        case_id, _, version = value.partition(":")
        shown[int(case_id)] = (int(version), [])
    for value in post.getlist("message"):
        case_id, _, message_id = value.partition(":")
        if int(case_id) in shown:
            shown[int(case_id)][1].append(int(message_id))
    return shown


@require_POST
def routine_accept_all(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    try:
        shown = _shown(request.POST)
    except ValueError:
        shown = {}
    if not shown:
        flash.error(request, "Nothing to accept: reload the routine view.")
        return redirect("packets:routine-list")
    result = verbs.accept_all(shown, request.user)
    if result.done:
        flash.success(
            request, f"Accepted {len(result.done)} case{'s' if len(result.done) != 1 else ''}: {_names(result.done)}."
        )
    for label, reason in result.skipped:
        flash.error(request, f"Skipped {label}: {reason}.")
    return redirect("packets:routine-list")


def _names(labels: list[str]) -> str:
    numbers = [label.removeprefix("order ") for label in labels]
    if len(numbers) <= REPORT_NAMES:
        return ", ".join(numbers)
    return ", ".join(numbers[:REPORT_NAMES]) + f" and {len(numbers) - REPORT_NAMES} more"
