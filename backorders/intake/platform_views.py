"""The ShipStation and BigCommerce webhook endpoints: verify, store, enqueue (nothing else).

ShipStation: ``POST /webhooks/shipstation/?token=<SHIPSTATION_WEBHOOK_SECRET>``; BigCommerce:
``POST /webhooks/bigcommerce/`` with the ``X-Webhook-Secret`` header set at registration. A
wrong or missing secret is answered 401 with the reason and kept as rejected, as every other
source's; the rest of the path (415, 400, duplicates, replay) is the shared one.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import WebhookDelivery
from ..views import _receive
from . import bigcommerce, shipstation
from .common import oversized

Source = WebhookDelivery.Source


@csrf_exempt
@login_not_required
@require_POST
def shipstation_webhook(request: HttpRequest) -> HttpResponse:
    if too_large := oversized(Source.SHIPSTATION, request):
        return too_large
    return _receive(
        Source.SHIPSTATION,
        request,
        verified=shipstation.verify(request),
        setting="SHIPSTATION_WEBHOOK_SECRET",
        keys=shipstation.delivery_keys,
    )


@csrf_exempt
@login_not_required
@require_POST
def bigcommerce_webhook(request: HttpRequest) -> HttpResponse:
    if too_large := oversized(Source.BIGCOMMERCE, request):
        return too_large
    return _receive(
        Source.BIGCOMMERCE,
        request,
        verified=bigcommerce.verify(request),
        setting="BIGCOMMERCE_WEBHOOK_SECRET",
        keys=bigcommerce.delivery_keys,
    )
