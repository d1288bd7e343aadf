"""Process stored webhook deliveries again: python manage.py replay_webhooks --failed | --id N [--id M]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from backorders.models import WebhookDelivery
from backorders.tasks import process_delivery

REPLAYABLE = [
    WebhookDelivery.Status.FAILED,
    WebhookDelivery.Status.WAITING,
    WebhookDelivery.Status.RECEIVED,
    WebhookDelivery.Status.PROCESSING,
]


class Command(BaseCommand):
    help = (
        "Process stored deliveries again, in the order they arrived: the failed ones (--failed) or "
        "chosen ones (--id). Rejected deliveries (bad signature or body) are never replayed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--failed", action="store_true", help="Every delivery that failed, waits, or was never processed."
        )
        parser.add_argument(
            "--id", type=int, action="append", dest="ids", default=[], help="A delivery id (repeatable)."
        )
        parser.add_argument("--source", choices=WebhookDelivery.Source.values, help="Only this source's deliveries.")

    def handle(self, *args, failed: bool, ids: list[int], source: str | None, **options):
        if not failed and not ids:
            raise CommandError("Say which deliveries: --failed, or --id N")
        # a rejected delivery keeps no body to apply
        deliveries = WebhookDelivery.objects.filter(signature_valid=True).exclude(
            status=WebhookDelivery.Status.REJECTED
        )
        if source:
            deliveries = deliveries.filter(source=source)
        if ids:
            found = set(deliveries.filter(pk__in=ids).values_list("pk", flat=True))
            missing = sorted(set(ids) - found)
            if missing:
                raise CommandError(f"No verified delivery with id {', '.join(map(str, missing))}")
            deliveries = deliveries.filter(pk__in=ids)
        else:
            deliveries = deliveries.filter(status__in=REPLAYABLE)
        outcome = {"ok": 0, "failed": 0}
        for delivery in deliveries.order_by("received_at", "pk").only("pk", "status", "source", "topic"):
            if delivery.status not in REPLAYABLE:
                # a chosen delivery that was processed or ignored is applied again from its body
                WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED)
            try:
                status = process_delivery(delivery.pk)
            except Exception as exc:  # recorded on the delivery by the task; go on with the rest
                self.stderr.write(f"delivery {delivery.pk} ({delivery.source} {delivery.topic}): error: {exc}")
                outcome["failed"] += 1
                continue
            row = WebhookDelivery.objects.only("status", "error").get(pk=delivery.pk)
            self.stdout.write(
                f"delivery {delivery.pk} ({delivery.source} {delivery.topic}): {status} {row.error}".rstrip()
            )
            outcome["failed" if status == WebhookDelivery.Status.FAILED else "ok"] += 1
        self.stdout.write(
            f"Replayed {outcome['ok'] + outcome['failed']}: {outcome['ok']} done, {outcome['failed']} failed"
        )
