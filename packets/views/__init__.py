"""The owner's and support's pages for cases: the queue, the packet page and what people do there.

Views stay thin: the verbs live in ``packets.decisions`` (and ``packets.notify.messaging``), which check
roles on the server; a view turns their PermissionDenied into a 403 (Django does) and their
ValidationError into a form error on the page it re-renders with status 400.

This module holds the queue and case pages; one module per other page family: ``customer`` (the
customer's order page, signed link, no login), ``export`` (PDFs and bundles), ``connections``,
``review`` (the weekly review and purchase-order approval), ``store_actions`` (the panel and "run
again"); ``forms`` holds the case pages' forms.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from backorders.roles import is_owner, is_staff_member
from packets import decisions as verbs
from packets.accept import acceptance_for, routine_cases, why_not
from packets.audit.timeline import timeline_svg
from packets.models import Case, Decision, IllegalTransition, Message
from packets.notify import channels, machine_draft
from packets.notify import compose as writing
from packets.notify.messaging import NoLongerADraft, approve_message, can_approve
from packets.privacy.erasure import redact_audit_rows, redact_packet_content
from packets.queue import FACETS, QueueFilterForm, RankedCases, queue
from packets.views.forms import (
    DECISION_KEYS,
    AssignForm,
    BulkCasesForm,
    BulkDraftsForm,
    DecisionForm,
    OutcomeForm,
    RejectForm,
    default_check_day,
)
from packets.views.routine import queue_origin

PAGE_SIZE = 25
AUDIT_ROWS = 200


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can see cases.")


def _get_case_for_user(request: HttpRequest, case_id: int) -> Case:
    _require_staff(request)
    return get_object_or_404(
        Case.objects.select_related("order__customer", "product", "shipment", "supplier", "assignee", "zendesk_ticket"),
        pk=case_id,
    )


def _back(request: HttpRequest, fallback: str) -> str:
    """``next`` when it is a path on this site (``/cases/?...``); the fallback for anything else.

    A bare word such as ``foo`` is not taken: ``redirect()`` would try it as a URL name and fail
    after the action was applied."""
    target = request.POST.get("next") or ""
    on_this_site = target.startswith("/") and not target.startswith(("//", "/\\"))
    allowed = {request.get_host()}
    if on_this_site and url_has_allowed_host_and_scheme(target, allowed, require_https=request.is_secure()):
        return target
    return fallback


def _errors(exc: ValidationError) -> list[str]:
    return list(exc.messages)


# --------------------------------------------------------------------------- the queue


def _queue_context(request: HttpRequest, params) -> tuple[dict, int]:
    form = QueueFilterForm(params)
    if not form.is_valid():
        return {"filter_form": form, "page": None, "facets": {}, "active": {}}, 400
    urgent = form.cleaned_data.get("view") == "urgent"
    routine_ids = [a.case.pk for a in routine_cases(request.user)] if urgent else []
    cases, facets, active, total = queue(form, leave_out=routine_ids)
    paginator = Paginator(RankedCases(cases, total), PAGE_SIZE)  # counted with the facets, in the same query
    page = paginator.get_page(form.cleaned_data.get("page"))
    for values in facets.values():
        for value in values:
            query = params.copy()
            query.pop("page", None)
            if value.active:
                query.pop(value.facet, None)
            else:
                query[value.facet] = value.value
            value.url = f"?{query.urlencode()}" if query else "?"
    clear = params.copy()
    for name in [*FACETS, "page"]:
        clear.pop(name, None)
    toggle = params.copy()
    toggle.pop("page", None)
    if form.cleaned_data.get("decided"):
        toggle.pop("decided", None)
    else:
        toggle["decided"] = "1"
    context = {
        "filter_form": form,
        "page": page,
        "facets": facets,
        "active": active,
        "q": form.cleaned_data.get("q") or "",
        "clear_url": f"?{clear.urlencode()}" if clear else "?",
        "current_url": request.get_full_path(),
        "decided": form.cleaned_data.get("decided"),
        "decided_url": f"?{toggle.urlencode()}" if toggle else "?",
        "urgent": urgent,
        "routine_left_out": len(routine_ids),
    }
    return context, 200


@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    context, status = _queue_context(request, request.GET)
    context["bulk_form"] = BulkCasesForm(staff=verbs.staff_users())
    template = "packets/case_list.html#rows" if request.htmx else "packets/case_list.html"
    return render(request, template, context, status=status)


@require_POST
def case_bulk(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    form = BulkCasesForm(request.POST, staff=verbs.staff_users())
    if not form.is_valid():
        context, _ = _queue_context(request, request.GET)
        context["bulk_form"] = form
        return render(request, "packets/case_list.html", context, status=400)
    ids = form.cleaned_data["case_ids"]
    if form.cleaned_data["operation"] == "assign":
        assignee = form.cleaned_data["assignee"]
        result = verbs.bulk_assign(ids, request.user, assignee.pk if assignee else None)
        verb = "Assigned"
    else:
        result = verbs.bulk_accept_recommendation(
            ids,
            request.user,
            note="Accepted the packet's recommendation from the queue.",
            next_check_at=form.cleaned_data["next_check_at"],
        )
        verb = "Accepted the recommendation on"
    _report_bulk(request, result, verb, "case")
    return redirect(_back(request, reverse("packets:case-list")))


def _report_bulk(request: HttpRequest, result: verbs.BulkResult, verb: str, noun: str) -> None:
    if result.done:
        plural = "" if len(result.done) == 1 else "s"
        flash.success(request, f"{verb} {len(result.done)} {noun}{plural}.")
    for item_id, reason in result.skipped:
        flash.error(request, f"Skipped {noun} {item_id}: {reason}.")


# --------------------------------------------------------------------------- drafts


@require_GET
def draft_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    routine = request.GET.get("routine") == "1"
    drafts = verbs.routine_drafts() if routine else Message.objects.filter(status=Message.Status.DRAFT)
    drafts = drafts.select_related("case__order__customer", "case__product").order_by("created_at", "id")
    page = Paginator(drafts, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for m in page.object_list:
        unset = channels.not_ready(m.channel)
        rows.append((m, can_approve(request.user, m) and not m.guideline_issues and not unset, unset))
    return render(
        request,
        "packets/draft_list.html",
        {"page": page, "rows": rows, "routine": routine, "current_url": request.get_full_path()},
    )


@require_POST
def draft_bulk_approve(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    form = BulkDraftsForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Tick at least one draft to approve.")
        return redirect(_back(request, reverse("packets:draft-list")))
    result = verbs.bulk_approve_messages(form.cleaned_data["message_ids"], request.user)
    _report_bulk(request, result, "Approved", "draft")
    return redirect(_back(request, reverse("packets:draft-list")))


# --------------------------------------------------------------------------- the packet page


def _detail_context(request: HttpRequest, case: Case, **extra) -> dict:
    packet = case.packets.order_by("-version").first()
    content = redact_packet_content(packet.content if packet else {}, case.order.customer if case.order else None)
    case_decisions = list(case.decisions.select_related("decided_by", "approved_by", "packet"))
    case_messages = list(case.messages.all())
    inbound = list(case.inbound_messages.all())
    outcomes = list(case.outcomes.select_related("recorded_by", "decision"))
    audit = redact_audit_rows(list(case.audit_events.all()[:AUDIT_ROWS]), case.order.customer if case.order else None)
    owner = is_owner(request.user)
    staff = verbs.staff_users()
    version = packet.version if packet else None
    decision_form = extra.pop("decision_form", None) or DecisionForm(
        initial={
            "action": request.GET.get("action") or (packet.recommendation if packet else None),
            "packet_version": version,
            "next_check_on": default_check_day(packet.policy if packet else None),
        }
    )
    message_rows = [
        {
            "message": m,
            "can_approve": m.status == Message.Status.DRAFT and can_approve(request.user, m) and not unset,
            "channel_problem": unset,
        }
        for m in case_messages
        for unset in [channels.not_ready(m.channel) if m.status == Message.Status.DRAFT else ""]
    ]
    acceptance, accept_refusal = None, ""
    if packet is not None and case.is_open and case.status != Case.Status.ACTIONED:
        case.customer_drafts = [
            m for m in case_messages if m.status == Message.Status.DRAFT and m.audience == Message.Audience.CUSTOMER
        ]
        acceptance = acceptance_for(case, packet)
        accept_refusal = why_not(acceptance, request.user, packet.policy) if acceptance else ""
    reply_subject, reply_body = writing.reply_start(case)
    context = {
        "case": case,
        "packet": packet,
        "thread": writing.thread(case, case_messages, inbound),
        "reply_subject": reply_subject,
        "reply_body": reply_body,
        "offer_to_draft": writing.offer_to_draft(case, packet, case_messages),
        "acceptance": acceptance,
        "accept_refusal": accept_refusal,
        "queue_from": queue_origin(request.GET.get("from")),
        "show_accept": request.GET.get("accept") == "1",
        "c": content,
        "decisions": case_decisions,
        "proposed": [d for d in case_decisions if d.status == Decision.Status.PROPOSED],
        "message_rows": message_rows,
        "machine_drafting": machine_draft.configured() and case.order is not None,
        "inbound": inbound,
        "outcomes": outcomes,
        "audit": audit,
        "audit_limit": AUDIT_ROWS,
        "is_owner": owner,
        "decision_form": decision_form,
        "action_choices": [
            {
                "value": value,
                "label": label,
                "key": DECISION_KEYS[value],
                "owner_only": value in Decision.OWNER_ONLY_ACTIONS,
            }
            for value, label in Decision.Action.choices
        ],
        "outcome_form": extra.pop("outcome_form", None) or OutcomeForm(),
        "assign_form": AssignForm(initial={"assignee": case.assignee_id}, staff=staff),
        "message_errors": extra.pop("message_errors", {}),
        "page_errors": extra.pop("page_errors", []),
        "timeline": timeline_svg(
            content, decisions=case_decisions, messages=case_messages, inbound=inbound, now=timezone.now()
        ),
        "now": timezone.now(),
    }
    context.update(extra)
    return context


@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _get_case_for_user(request, case_id)
    return render(request, "packets/case_detail.html", _detail_context(request, case))


def _rerender(request: HttpRequest, case_id: int, **extra) -> HttpResponse:
    case = _get_case_for_user(request, case_id)
    return render(request, "packets/case_detail.html", _detail_context(request, case, **extra), status=400)


@require_POST
def case_decide(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _get_case_for_user(request, case_id)
    form = DecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            decision = verbs.decide(
                case.pk,
                request.user,
                action=data["action"],
                note=data["note"],
                amount=data["amount"],
                next_check_at=data["next_check_at"],
                packet_version=data["packet_version"],
                replaces=data["replaces"],
            )
        except ValidationError as exc:
            for error in _errors(exc):
                form.add_error(None, error)
            if isinstance(exc, verbs.AlreadyDecided):
                form.earlier = exc.earlier  # the page offers to replace it
        else:
            if decision.status == Decision.Status.PROPOSED:
                flash.info(request, f"Proposed “{decision.get_action_display()}”: it waits for the owner's approval.")
            else:
                flash.success(request, f"Decided: {decision.get_action_display()}.")
            return redirect("packets:case-detail", case_id=case.pk)
    return _rerender(request, case.pk, decision_form=form)


def _decision_for_user(request: HttpRequest, decision_id: int) -> Decision:
    _require_staff(request)
    return get_object_or_404(Decision, pk=decision_id)


@require_POST
def decision_approve(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _decision_for_user(request, decision_id)
    try:
        verbs.approve_decision(decision.pk, request.user)
    except ValidationError as exc:
        return _rerender(request, decision.case_id, page_errors=_errors(exc))
    flash.success(request, f"Approved: {decision.get_action_display()}.")
    return redirect("packets:case-detail", case_id=decision.case_id)


@require_POST
def decision_reject(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _decision_for_user(request, decision_id)
    form = RejectForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        verbs.reject_decision(decision.pk, request.user, note)
    except ValidationError as exc:
        return _rerender(request, decision.case_id, page_errors=_errors(exc))
    flash.success(request, f"Rejected: {decision.get_action_display()}.")
    return redirect("packets:case-detail", case_id=decision.case_id)


@require_POST
def case_outcome(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _get_case_for_user(request, case_id)
    form = OutcomeForm(request.POST)
    if form.is_valid():
        try:
            outcome = verbs.record_outcome(
                case.pk, request.user, kind=form.cleaned_data["kind"], note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            for error in _errors(exc):
                form.add_error(None, error)
        else:
            flash.success(request, f"Recorded: {outcome.get_kind_display()}.")
            return redirect("packets:case-detail", case_id=case.pk)
    return _rerender(request, case.pk, outcome_form=form)


@require_POST
def case_assign(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _get_case_for_user(request, case_id)
    form = AssignForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Cases can only go to the owner or support staff.")
        return redirect("packets:case-detail", case_id=case.pk)
    assignee = form.cleaned_data["assignee"]
    try:
        verbs.assign(case.pk, request.user, assignee.pk if assignee else None)
    except ValidationError as exc:
        flash.error(request, " ".join(_errors(exc)))
    else:
        flash.success(request, f"Assigned to {assignee}." if assignee else "Unassigned.")
    return redirect(_back(request, reverse("packets:case-detail", args=[case.pk])))


@require_POST
def message_approve(request: HttpRequest, message_id: int) -> HttpResponse:
    _require_staff(request)
    message = get_object_or_404(Message, pk=message_id)
    fallback = (
        reverse("packets:case-detail", args=[message.case_id]) if message.case_id else reverse("packets:draft-list")
    )
    try:
        approve_message(message.pk, request.user)
    except (ValidationError, IllegalTransition) as exc:
        if isinstance(exc, ValidationError):
            errors = _errors(exc)
        else:  # what it is now and why, when approval knows it
            errors = [str(exc) if isinstance(exc, NoLongerADraft) else "This message is no longer a draft."]
        if message.case_id is None:
            for error in errors:
                flash.error(request, error)
            return redirect(fallback)
        message.refresh_from_db(fields=["status"])
        if message.status != Message.Status.DRAFT:  # it left the drafts list: say why at the top of the page
            return _rerender(request, message.case_id, page_errors=errors)
        return _rerender(request, message.case_id, message_errors={message.pk: errors})
    flash.success(request, f"Approved and queued: {message.subject or message.get_channel_display()}.")
    return redirect(_back(request, fallback))
