"""Writing to the customer from the case page: edit a draft before approval, check it as it is
typed (an htmx partial), reply to the customer, draft the replacement offer the packet recommends.

Each page works without scripts: the forms post and redirect back to the case; a refused text is
shown again with its errors (400) on the compose page, never lost."""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from backorders.roles import is_staff_member
from packets.models import Case, Message
from packets.notify import compose
from packets.notify.messaging import NoLongerADraft


class ComposeForm(forms.Form):
    subject = forms.CharField(max_length=compose.SUBJECT_MAX, required=False)
    body = forms.CharField(max_length=compose.BODY_MAX, widget=forms.Textarea(attrs={"rows": 10}))


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff write to customers.")


def _errors(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def _case_url(case_id: int) -> str:
    return reverse("packets:case-detail", args=[case_id]) + "#messages"


def _page(request, *, form, action: str, case: Case, message: Message | None, issues, status=200, errors=()):
    errors = [*errors, *(e for field_errors in form.errors.values() for e in field_errors)]
    data = form.data if form.is_bound else form.initial
    context = {
        "subject": data.get("subject", ""),
        "body": data.get("body", ""),
        "action": action,
        "case": case,
        "message": message,
        "issues": issues,
        "errors": errors,
    }
    return render(request, "packets/compose.html", context, status=status)


@require_http_methods(["GET", "POST"])
def message_edit(request: HttpRequest, message_id: int) -> HttpResponse:
    _require_staff(request)
    message = get_object_or_404(Message.objects.select_related("case__order"), pk=message_id)
    action = reverse("packets:message-edit", args=[message.pk])
    if request.method == "GET":
        form = ComposeForm(initial={"subject": message.subject, "body": message.body})
        return _page(
            request, form=form, action=action, case=message.case, message=message, issues=message.guideline_issues
        )
    form = ComposeForm(request.POST)
    if form.is_valid():
        try:
            edited = compose.edit_draft(message.pk, request.user, **form.cleaned_data)
        except NoLongerADraft as exc:
            flash.error(request, str(exc))
            return redirect(_case_url(message.case_id))
        except ValidationError as exc:
            return _page(
                request,
                form=form,
                action=action,
                case=message.case,
                message=message,
                issues=[],
                status=400,
                errors=_errors(exc),
            )
        if edited.guideline_issues:
            flash.warning(request, "Saved. It breaks the store's message guidelines, so it cannot be approved yet.")
        else:
            flash.success(request, "Saved the draft.")
        return redirect(_case_url(message.case_id))
    return _page(request, form=form, action=action, case=message.case, message=message, issues=[], status=400)


@require_POST
def message_check(request: HttpRequest, message_id: int) -> HttpResponse:
    """The guideline issues of the text being typed into a draft (a partial for htmx)."""
    _require_staff(request)
    message = get_object_or_404(Message.objects.select_related("case"), pk=message_id)
    body = request.POST.get("body", "")[: compose.BODY_MAX + 1]
    issues = compose.check_text(message, request.POST.get("subject", "")[:1000], body)
    return render(request, "packets/partials/_compose_issues.html", {"issues": issues, "checked": True})


@require_POST
def case_reply_check(request: HttpRequest, case_id: int) -> HttpResponse:
    """The guideline issues of a reply being typed (a partial for htmx)."""
    _require_staff(request)
    case = get_object_or_404(Case.objects.select_related("order__customer"), pk=case_id)
    trial = compose.trial_reply(case)
    issues = compose.check_text(
        trial, request.POST.get("subject", "")[:1000], request.POST.get("body", "")[: compose.BODY_MAX + 1]
    )
    return render(request, "packets/partials/_compose_issues.html", {"issues": issues, "checked": True})


@require_http_methods(["GET", "POST"])
def case_reply(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_staff(request)
    case = get_object_or_404(Case.objects.select_related("order__customer", "shipment"), pk=case_id)
    action = reverse("packets:case-reply", args=[case.pk])
    if request.method == "GET":
        subject, body = compose.reply_start(case)
        form = ComposeForm(initial={"subject": subject, "body": body})
        return _page(request, form=form, action=action, case=case, message=None, issues=[])
    form = ComposeForm(request.POST)
    if form.is_valid():
        try:
            draft = compose.reply(case.pk, request.user, **form.cleaned_data)
        except ValidationError as exc:
            return _page(
                request, form=form, action=action, case=case, message=None, issues=[], status=400, errors=_errors(exc)
            )
        if draft.guideline_issues:
            flash.warning(request, "Reply drafted. It breaks the store's message guidelines: edit it before approval.")
        else:
            flash.success(request, "Reply drafted: it goes out once approved.")
        return redirect(_case_url(case.pk))
    return _page(request, form=form, action=action, case=case, message=None, issues=[], status=400)


@require_POST
def case_draft_offer(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_staff(request)
    case = get_object_or_404(Case, pk=case_id)
    try:
        compose.draft_offer(case.pk, request.user)
    except ValidationError as exc:
        flash.error(request, " ".join(_errors(exc)))
        response = redirect(_case_url(case.pk))
        response.status_code = 303
        return response
    flash.success(request, "Drafted the replacement offer: read it, edit it if you like, and approve it.")
    return redirect(_case_url(case.pk))
