"""The schedules for store actions and outbound events, declared in code and written to django-q2's
Schedule table by ``manage.py sync_action_schedules`` (never at start-up)."""

from __future__ import annotations

SCHEDULES = [
    # (name, dotted function, minutes between runs)
    ("store actions: retry due and lost actions", "packets.store_actions.runner.retry_due_actions", 1),
    ("outbound events: retry due deliveries", "packets.outbound.retry_due_deliveries", 1),
]


def sync_schedules() -> list[str]:
    from django_q.models import Schedule

    names = []
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
        names.append(name)
    return names
