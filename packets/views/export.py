"""PDF exports: one case's packet, and audit bundles rendered by the worker.

The owner and support staff may export. A single packet renders inside the request; a bundle
never does: the request fixes the list of cases and queues a job, and the page polls its
progress until the worker has finished.
"""

from __future__ import annotations

import datetime as dt
import os

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from backorders.roles import is_owner, is_staff_member
from packets.audit import record_refusal
from packets.audit.export import (
    MAX_BUNDLE_CASES,
    BundleRefused,
    NothingToExport,
    cases_matching,
    export_case_pdf,
    pdf_filename,
    start_bundle,
)
from packets.models import AuditEvent, Case, ExportJob

EXPORT_REFUSED = "Only the store's owner and support staff may export packets."
RECENT_JOBS = 20


def _require_exporter(request: HttpRequest, action: str) -> None:
    if not is_staff_member(request.user):
        record_refusal(request, action, EXPORT_REFUSED)
        raise PermissionDenied(EXPORT_REFUSED)


@require_GET
def case_pdf(request: HttpRequest, case_id: int) -> HttpResponse:
    """The packet a case was decided on, as a PDF (the export is written to the audit trail)."""
    _require_exporter(request, "packet.export")
    try:
        pdf, case, packet = export_case_pdf(case_id, user=request.user, via="web")
    except Case.DoesNotExist:
        raise Http404("No such case.") from None
    except NothingToExport as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{pdf_filename(case, packet)}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- audit bundles


class BundleForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "Any kind"), *Case.Kind.choices], required=False)
    category = forms.ChoiceField(choices=[("", "Any category"), *Case.Category.choices], required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Case.Status.choices], required=False)
    opened_from = forms.DateField(
        required=False, label="Opened on or after", widget=forms.DateInput(attrs={"type": "date"})
    )
    opened_to = forms.DateField(
        required=False, label="Opened on or before", widget=forms.DateInput(attrs={"type": "date"})
    )
    output = forms.ChoiceField(
        choices=ExportJob.Output.choices, initial=ExportJob.Output.ZIP, widget=forms.RadioSelect, label="File"
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("opened_from"), data.get("opened_to")
        if start and end and start > end:
            raise forms.ValidationError("The first opening date must not be after the last.")
        if not self.errors:
            count = cases_matching(self.filters()).count()
            if count == 0:
                raise forms.ValidationError("No case with a packet matches these filters.")
            if count > MAX_BUNDLE_CASES:
                raise forms.ValidationError(
                    f"{count} cases match; a bundle holds at most {MAX_BUNDLE_CASES}. Narrow the filters."
                )
        return data

    def filters(self) -> dict:
        data = self.cleaned_data
        out = {name: data[name] for name in ("kind", "category", "status") if data.get(name)}
        for name in ("opened_from", "opened_to"):
            if isinstance(data.get(name), dt.date):
                out[name] = data[name].isoformat()
        return out


def _visible_jobs(request: HttpRequest):
    jobs = ExportJob.objects.select_related("created_by").order_by("-created_at", "-id")
    return jobs if is_owner(request.user) else jobs.filter(created_by=request.user)


def _job_for_user(request: HttpRequest, job_id: int, action: str) -> ExportJob:
    _require_exporter(request, action)
    job = get_object_or_404(ExportJob.objects.select_related("created_by"), pk=job_id)
    if job.created_by_id != request.user.pk and not is_owner(request.user):
        reason = "A bundle is for the person who asked for it, and for the owner."
        record_refusal(request, action, reason)
        raise PermissionDenied(reason)
    return job


@require_GET
def bundle_list(request: HttpRequest) -> HttpResponse:
    _require_exporter(request, "bundle.view")
    jobs = list(_visible_jobs(request)[:RECENT_JOBS])
    return render(
        request, "packets/export/bundle_list.html", {"form": BundleForm(), "jobs": jobs, "max_cases": MAX_BUNDLE_CASES}
    )


@require_POST
def bundle_create(request: HttpRequest) -> HttpResponse:
    _require_exporter(request, "bundle.create")
    form = BundleForm(request.POST)
    if form.is_valid():
        try:
            job = start_bundle(user=request.user, filters=form.filters(), output=form.cleaned_data["output"])
        except BundleRefused as exc:  # the cases changed between the check and the job
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Bundle of {job.total} case(s) queued.")
            return redirect("packets:bundle-detail", job_id=job.pk)
    jobs = list(_visible_jobs(request)[:RECENT_JOBS])
    return render(
        request,
        "packets/export/bundle_list.html",
        {"form": form, "jobs": jobs, "max_cases": MAX_BUNDLE_CASES},
        status=400,
    )


@require_GET
def bundle_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for_user(request, job_id, "bundle.view")
    return render(request, "packets/export/bundle_detail.html", {"job": job})


@require_GET
def bundle_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress row the bundle page polls; HTTP 286 tells htmx to stop once the job is finished."""
    job = _job_for_user(request, job_id, "bundle.view")
    response = render(request, "packets/export/bundle_detail.html#progress", {"job": job})
    if job.is_finished:
        stop = HttpResponseStopPolling(response.content)
        stop["Content-Type"] = response["Content-Type"]
        return stop
    return response


@require_GET
def bundle_download(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for_user(request, job_id, "bundle.download")
    if job.status != ExportJob.Status.DONE or not job.file:
        return HttpResponse("This bundle is not ready.", status=409, content_type="text/plain; charset=utf-8")
    AuditEvent.record(
        "export.downloaded", actor=request.user, obj=job, summary=f"Audit bundle {job.pk} downloaded", cases=job.total
    )
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=os.path.basename(job.file.name))
