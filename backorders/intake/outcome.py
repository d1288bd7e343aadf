"""What handling a delivery came to, and the guard against stale versions of a resource."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import WebhookDelivery


@dataclass
class Outcome:
    status: str = WebhookDelivery.Status.PROCESSED
    note: str = ""
    changed: bool = True  # facts changed: the sweep should look again

    @classmethod
    def ignored(cls, note: str) -> Outcome:
        return cls(WebhookDelivery.Status.IGNORED, note, changed=False)


def newer_version_applied(delivery: WebhookDelivery, resource_id: str, updated_at: datetime | None) -> bool:
    """True when a delivery for the same resource with a later ``updated_at`` was already applied.

    For resources whose rows keep no version of their own (stock levels, products); orders keep
    theirs on ``Order.channel_updated_at``. The caller holds the resource's row lock, so two
    workers never both decide they are the newest.
    """
    delivery.resource_id = resource_id[:64]
    delivery.resource_updated_at = updated_at
    if updated_at is None:
        return False
    return (
        WebhookDelivery.objects.filter(
            source=delivery.source,
            resource_id=delivery.resource_id,
            status=WebhookDelivery.Status.PROCESSED,
            resource_updated_at__gt=updated_at,
        )
        .exclude(pk=delivery.pk)
        .exists()
    )
