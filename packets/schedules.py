"""Recurring tasks, declared in code and written to django-q2 by ``manage.py sync_schedules``.

Never created in ``AppConfig.ready()``: the command is run at deploy (and by ``make run``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def next_night(now: datetime) -> datetime:
    """03:00 in the store's time zone, strictly after ``now`` (aware)."""
    from django.conf import settings

    local = now.astimezone(ZoneInfo(settings.STORE_TIME_ZONE))
    candidate = datetime.combine(local.date(), time(3), tzinfo=local.tzinfo)
    return candidate if candidate > local else candidate + timedelta(days=1)


def next_monday_morning(now: datetime) -> datetime:
    """Monday 08:00 in the store's time zone, strictly after ``now`` (aware)."""
    from django.conf import settings

    local = now.astimezone(ZoneInfo(settings.STORE_TIME_ZONE))
    days = (7 - local.weekday()) % 7
    candidate = datetime.combine(local.date() + timedelta(days=days), time(8), tzinfo=local.tzinfo)
    if candidate <= local:
        candidate += timedelta(days=7)
    return candidate


@dataclass(frozen=True)
class Declared:
    name: str
    func: str
    minutes: int
    # when a new schedule first runs; None: at the next cluster tick
    first_run: Callable[[datetime], datetime] | None = None


SCHEDULES: list[Declared] = [
    # the cases whose facts changed or whose clock fell due; cadence drafts follow as their own task
    Declared(name="packets.sweep", func="packets.tasks.run_sweep", minutes=5),
    # the full reconcile, the safety net under the incremental sweep: nothing to change when it holds
    Declared(name="packets.reconcile_all", func="packets.tasks.reconcile_all", minutes=24 * 60, first_run=next_night),
    # chase suppliers silent past their window, propose purchase orders for what is short
    Declared(name="suppliers.followup", func="packets.supplier_followup.draft_supplier_followups", minutes=60),
    # outgoing messages: due retries, and rows a dead worker left in "sending"
    Declared(name="notify.retry", func="packets.notify.tasks.retry_due_messages", minutes=1),
    Declared(name="notify.reconcile", func="packets.notify.reconcile.reconcile_stuck", minutes=5),
    # customers' email replies in the IMAP_URL mailbox (nothing to do when it is not set)
    Declared(name="replies.fetch_imap", func="packets.notify.imap.fetch_replies", minutes=1),
    # customers' stored email replies whose reading was never queued (a broker outage)
    Declared(name="replies.apply_received", func="packets.notify.replies.apply_received", minutes=2),
    # Zendesk ticket comments kept but never read (a broker outage)
    Declared(
        name="zendesk.apply_received",
        func="packets.integrations.zendesk_comments.apply_received_comments",
        minutes=2,
    ),
    # store actions (cancel, refund, hold, tag) due for a retry or lost by a dead worker
    Declared(name="store_actions.retry", func="packets.store_actions.runner.retry_due_actions", minutes=1),
    # the desk's stock pushes to the channels (STOCK_SOURCE=desk) due for a retry or lost by a dead worker
    Declared(name="stock_push.retry", func="packets.store_actions.stock_push.retry_due_pushes", minutes=1),
    # every product's number compared with what its channels were last sent (a missed change is caught)
    Declared(name="stock_push.reconcile", func="packets.store_actions.stock_push.reconcile_channel_stock", minutes=10),
    # Zendesk tickets of escalated cases, due for a retry or lost by a dead worker
    Declared(name="zendesk.retry", func="packets.integrations.zendesk.retry_due_tickets", minutes=1),
    # calls to Slack (owner alerts, their updates) due for a retry or lost by a dead worker
    Declared(name="slack.retry", func="packets.integrations.slack.posting.retry_due_posts", minutes=1),
    # buttons pressed in Slack, kept but never applied (a broker outage)
    Declared(name="slack.apply_received", func="packets.integrations.slack.interactions.apply_received", minutes=2),
    # outbound events for subscribed automations, due for a retry
    Declared(name="outbound.retry", func="packets.integrations.outbound.retry_due_deliveries", minutes=1),
    # deliveries whose enqueue was lost (stored, never processed)
    Declared(name="intake.process_received", func="backorders.tasks.process_received", minutes=2),
    # webhook deliveries done with (processed, rejected...) past WEBHOOK_RETENTION_DAYS; failed ones stay
    Declared(name="intake.prune_deliveries", func="backorders.tasks.prune_deliveries", minutes=60 * 24),
    # CSV imports whose worker died (lease run out) or whose enqueue was lost: resumed from the last batch
    Declared(name="imports.resume", func="backorders.tasks.resume_imports", minutes=1),
    # deliveries waiting for a fact (or a retry after lock cycles) whose time to try again has come
    Declared(name="intake.retry_waiting", func="backorders.tasks.retry_waiting", minutes=1),
    # Magento orders and stock pulled from its REST API (nothing to do when MAGENTO_URL is not set)
    Declared(name="magento.sync", func="backorders.intake.magento.pull_scheduled", minutes=5),
    # ShipStation's "Backorder" tag on orders waiting on stock, off once they can ship (when configured)
    Declared(name="shipstation.tags", func="packets.integrations.shipstation_tags.sync_tags", minutes=2),
    # proof for /healthz that some worker cluster is running
    Declared(name="ops.heartbeat", func="packets.health.heartbeat", minutes=1),
    # successful task results past TASK_RESULTS_KEEP_DAYS (the queue itself keeps them all)
    Declared(name="ops.prune_task_results", func="packets.health.prune_task_results", minutes=60 * 24),
    # the weekly review, drafted for the staff channel every Monday at 08:00 store time
    Declared(
        name="review.weekly",
        func="packets.review.weekly_review_alert",
        minutes=60 * 24 * 7,
        first_run=next_monday_morning,
    ),
]


def sync_schedules() -> list[tuple[str, str]]:
    """Create or update each declared Schedule by name; returns (name, created|updated|unchanged)."""
    from django.utils import timezone
    from django_q.models import Schedule

    report = []
    for declared in SCHEDULES:
        wanted = {"func": declared.func, "schedule_type": Schedule.MINUTES, "minutes": declared.minutes, "repeats": -1}
        schedule = Schedule.objects.filter(name=declared.name).first()
        if schedule is None:
            first = {"next_run": declared.first_run(timezone.now())} if declared.first_run else {}
            Schedule.objects.create(name=declared.name, **wanted, **first)
            report.append((declared.name, "created"))
        elif any(getattr(schedule, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(schedule, field, value)
            schedule.save()
            report.append((declared.name, "updated"))
        else:
            report.append((declared.name, "unchanged"))
    return report
