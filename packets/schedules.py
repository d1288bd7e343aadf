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
    Declared(name="packets.sweep", func="packets.tasks.run_sweep", minutes=5),
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
