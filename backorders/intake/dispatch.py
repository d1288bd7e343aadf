"""Process one stored delivery: parse its kept body and hand it to its source's adapter."""

from __future__ import annotations

from ..models import WebhookDelivery
from . import bigcommerce, carriers, generic, magento, shipstation, shopify, woocommerce
from .common import BadPayload, MappingError, loads
from .outcome import Outcome

HANDLERS = {
    WebhookDelivery.Source.SHOPIFY: shopify.handle,
    WebhookDelivery.Source.WOOCOMMERCE: woocommerce.handle,
    WebhookDelivery.Source.AFTERSHIP: carriers.handle,
    WebhookDelivery.Source.EASYPOST: carriers.handle,
    WebhookDelivery.Source.SHIPPO: carriers.handle,
    WebhookDelivery.Source.GENERIC: generic.handle,
    WebhookDelivery.Source.SHIPSTATION: shipstation.handle,
    WebhookDelivery.Source.BIGCOMMERCE: bigcommerce.handle,
    WebhookDelivery.Source.MAGENTO: magento.handle,
}


def handle_delivery(delivery: WebhookDelivery) -> Outcome:
    """Apply the delivery's facts. Raises ``MappingError`` for a payload that cannot be mapped."""
    handler = HANDLERS.get(delivery.source)
    if handler is None:
        raise MappingError(f"no adapter processes {delivery.get_source_display()} deliveries")
    try:
        payload = loads(bytes(delivery.body))
    except BadPayload as exc:
        raise MappingError(str(exc)) from None
    return handler(delivery, payload)
