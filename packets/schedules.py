"""Recurring tasks, declared in code and written to django-q2 by ``manage.py sync_schedules``.

Never created in ``AppConfig.ready()``: the command is run at deploy (and by ``make run``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Declared:
    name: str
    func: str
    minutes: int


SCHEDULES: list[Declared] = [
    # the level-triggered reconcile; cadence drafts and supplier follow-ups run after it (AFTER_SWEEP)
    Declared(name="packets.sweep", func="packets.tasks.run_sweep", minutes=5),
    # chase suppliers silent past their window, propose purchase orders for what is short
    Declared(name="suppliers.followup", func="packets.supplier_followup.draft_supplier_followups", minutes=60),
    # outgoing messages: due retries, and rows a dead worker left in "sending"
    Declared(name="notify.retry", func="packets.notify.tasks.retry_due_messages", minutes=1),
    Declared(name="notify.reconcile", func="packets.notify.reconcile.reconcile_stuck", minutes=5),
    # store actions (cancel, refund, hold, tag) due for a retry or lost by a dead worker
    Declared(name="store_actions.retry", func="packets.store_actions.runner.retry_due_actions", minutes=1),
    # outbound events for subscribed automations, due for a retry
    Declared(name="outbound.retry", func="packets.outbound.retry_due_deliveries", minutes=1),
    # deliveries whose enqueue was lost (stored, never processed)
    Declared(name="intake.process_received", func="backorders.tasks.process_received", minutes=2),
    # proof for /healthz that some worker cluster is running
    Declared(name="ops.heartbeat", func="packets.health.heartbeat", minutes=1),
    # successful task results past TASK_RESULTS_KEEP_DAYS (the queue itself keeps them all)
    Declared(name="ops.prune_task_results", func="packets.health.prune_task_results", minutes=60 * 24),
    # the weekly review, drafted for the staff channel every Monday morning's first run
    Declared(name="review.weekly", func="packets.review.weekly_review_alert", minutes=60 * 24 * 7),
]


def sync_schedules() -> list[tuple[str, str]]:
    """Create or update each declared Schedule by name; returns (name, created|updated|unchanged)."""
    from django_q.models import Schedule

    report = []
    for declared in SCHEDULES:
        wanted = {"func": declared.func, "schedule_type": Schedule.MINUTES, "minutes": declared.minutes, "repeats": -1}
        schedule = Schedule.objects.filter(name=declared.name).first()
        if schedule is None:
            Schedule.objects.create(name=declared.name, **wanted)
            report.append((declared.name, "created"))
        elif any(getattr(schedule, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(schedule, field, value)
            schedule.save()
            report.append((declared.name, "updated"))
        else:
            report.append((declared.name, "unchanged"))
    return report
