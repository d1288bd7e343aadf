"""The notification schedules, declared in code. ``manage.py sync_notify_schedules`` writes them to
django-q2's Schedule table (never at start-up: no database work in ``AppConfig.ready``)."""

from __future__ import annotations

SCHEDULES = [
    # (name, dotted function, minutes between runs)
    ("notify: retry due messages", "packets.notify.tasks.retry_due_messages", 1),
    ("notify: reconcile stuck messages", "packets.notify.reconcile.reconcile_stuck", 5),
]


def sync_schedules() -> list[str]:
    """Create or update the schedules above; returns their names."""
    from django_q.models import Schedule

    names = []
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
        names.append(name)
    return names
