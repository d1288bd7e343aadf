"""Intake's pages: the webhook endpoints (verify, store, enqueue; nothing else) and CSV imports."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .intake import carriers, shopify, woocommerce
from .intake.common import (
    BadPayload,
    content_type_problem,
    loads,
    oversized,
    q_options,
    request_headers,
    store_rejected,
    store_verified,
)
from .intake.csv_import import importers, report_csv
from .models import ImportJob, WebhookDelivery
from .roles import is_staff_member

Source = WebhookDelivery.Source
# sources verified by either of two secrets (Shippo: its HMAC key, or the URL token as the fallback)
SECRET_SETTINGS = {Source.SHIPPO: ("SHIPPO_WEBHOOK_HMAC_SECRET", "SHIPPO_WEBHOOK_SECRET")}

# --------------------------------------------------------------------------- webhooks


def _receive(source: str, request: HttpRequest, *, verified: bool, setting: str, keys) -> HttpResponse:
    if not verified:
        names = SECRET_SETTINGS.get(source, (setting,))
        reason = (
            "signature missing or does not match"
            if any(getattr(settings, name) for name in names)
            else f"{' or '.join(names)} is not set, so no delivery can be verified"
        )
        store_rejected(source, request, reason=reason)
        return HttpResponse(f"Rejected: {reason}.", status=401, content_type="text/plain")
    problem = content_type_problem(request)
    if problem:
        store_rejected(source, request, reason=problem, signature_valid=True)
        return HttpResponse(f"Rejected: {problem}.", status=415, content_type="text/plain")
    try:
        payload = loads(request.body)
    except BadPayload as exc:
        store_rejected(source, request, reason=str(exc), signature_valid=True)
        return HttpResponse(f"Rejected: {exc}.", status=400, content_type="text/plain")
    k = keys(payload)
    topic = k.pop("topic")
    delivery, is_new = store_verified(source, request, topic=topic, **k)
    return JsonResponse({"delivery": delivery.pk, "status": delivery.status, "duplicate": not is_new})


@csrf_exempt
@login_not_required
@require_POST
def shopify_webhook(request: HttpRequest) -> HttpResponse:
    if too_large := oversized(Source.SHOPIFY, request):
        return too_large
    return _receive(
        Source.SHOPIFY,
        request,
        verified=shopify.verify(request),
        setting="SHOPIFY_WEBHOOK_SECRETS",
        keys=lambda payload: shopify.delivery_keys(request, payload),
    )


@csrf_exempt
@login_not_required
@require_POST
def woocommerce_webhook(request: HttpRequest) -> HttpResponse:
    if too_large := oversized(Source.WOOCOMMERCE, request):
        return too_large
    if woocommerce.is_ping(request):
        # sent unsigned when the webhook is saved in WooCommerce; anything but 200 disables it
        WebhookDelivery.objects.create(
            source=Source.WOOCOMMERCE,
            topic="ping",
            body_sha256=WebhookDelivery.hash_body(request.body),
            headers=request_headers(request),
            body=request.body,
            body_size=len(request.body),
            status=WebhookDelivery.Status.IGNORED,
            error="WooCommerce webhook ping (unsigned, answered 200)",
        )
        return HttpResponse("ok", content_type="text/plain")
    return _receive(
        Source.WOOCOMMERCE,
        request,
        verified=woocommerce.verify(request),
        setting="WOOCOMMERCE_WEBHOOK_SECRET",
        keys=lambda payload: woocommerce.delivery_keys(request, payload),
    )


@csrf_exempt
@login_not_required
@require_POST
def carrier_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in carriers.PROVIDERS:
        raise Http404("No such tracking provider")
    if too_large := oversized(provider, request):
        return too_large
    verify, _ = carriers.PROVIDERS[provider]
    return _receive(
        provider,
        request,
        verified=verify(request),
        setting=f"{provider.upper()}_WEBHOOK_SECRET",
        keys=lambda payload: {
            "topic": carriers.topic_of(provider, payload),
            "delivery_id": carriers.delivery_id_of(provider, payload),
        },
    )


# --------------------------------------------------------------------------- CSV imports


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds")
    file = forms.FileField(label="CSV file")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind, imp.label) for kind, imp in importers().items()]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        if upload.size > settings.INTAKE_IMPORT_MAX_BYTES:
            limit = settings.INTAKE_IMPORT_MAX_BYTES // (1024 * 1024)
            raise forms.ValidationError(f"The file is larger than {limit} MB; split it into smaller files.")
        return upload


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise PermissionDenied("Only the store's owner and support staff can import files.")


def _jobs():
    return ImportJob.objects.select_related("created_by").defer("content", "checkpoint")


@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        with transaction.atomic():
            job = ImportJob.objects.create(
                kind=form.cleaned_data["kind"],
                filename=upload.name[:255],
                content=upload.read(),
                created_by=request.user,
            )
            transaction.on_commit(lambda: _enqueue_import(job.pk))
        return redirect("backorders:import-detail", job_id=job.pk)
    jobs = list(_jobs().defer("content", "errors")[:20])
    status = 400 if request.method == "POST" else 200
    return render(request, "backorders/import_list.html", {"form": form, "jobs": jobs}, status=status)


def _enqueue_import(job_id: int) -> None:
    from .queueing import enqueue_stored

    # the job is stored: with the broker down, the imports.resume schedule hands it over later
    enqueue_stored(
        "backorders.tasks.process_import",
        job_id,
        task_name=f"import-{job_id}",
        q_options=q_options(),
        what=f"import {job_id}",
    )


@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    _require_staff(request)
    job = get_object_or_404(_jobs(), pk=job_id)
    context = {"job": job, "entries": job.errors[:500]}
    if request.htmx:
        # htmx stops polling on 286 once the job has finished
        return render(request, "backorders/import_detail.html#job", context, status=286 if job.is_finished else 200)
    return render(request, "backorders/import_detail.html", context)


@require_GET
def import_report(request: HttpRequest, job_id: int) -> HttpResponse:
    _require_staff(request)
    job = get_object_or_404(_jobs(), pk=job_id)
    response = HttpResponse(report_csv(job.errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
    return response
