"""Task names a running install has stored keep working after packets/ moved into rooms.

The queue (django-q2's ``OrmQ`` rows, or Redis) and the ``Schedule`` table hold dotted function
names. Tasks queued under a module's old name still run, through django-q2's own worker; the
declared schedules are rewritten to the new names by ``sync_schedules``; every other name of an
old module fails loudly, so a stale import cannot pass unnoticed.
"""

from __future__ import annotations

import importlib
import pydoc
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule
from django_q.tasks import async_task

from packets.schedules import SCHEDULES, sync_schedules
from tests.task_queue import queued_task_names, run_queued_tasks

# as an earlier version enqueued them (the *_TASK constants) and declared them (SCHEDULES)
STORED_BEFORE = {
    "packets.zendesk.open_ticket": "packets.integrations.zendesk.open_ticket",  # stored-name
    "packets.zendesk.retry_due_tickets": "packets.integrations.zendesk.retry_due_tickets",  # stored-name
    "packets.outbound.deliver": "packets.integrations.outbound.deliver",  # stored-name
    "packets.outbound.retry_due_deliveries": "packets.integrations.outbound.retry_due_deliveries",  # stored-name
    "packets.tasks_export.render_bundle": "packets.audit.tasks.render_bundle",  # stored-name
}
OLD_SCHEDULES = {
    "zendesk.retry": "packets.zendesk.retry_due_tickets",  # stored-name
    "outbound.retry": "packets.outbound.retry_due_deliveries",  # stored-name
}
# modules that moved without a stored task name: none of their names may resolve any more
GONE = [
    "sweep_load", "sweep_cases", "sweep_parcels", "sweep_desired", "sweep_write", "sweep_events",
    "cadence", "messaging", "email_tracking", "connections", "pdf", "export", "timeline",
    "views_customer", "views_export", "views_connections", "views_store_actions", "review_views",
    "forms", "demo", "scale", "sentiment",
]  # fmt: skip


@pytest.mark.parametrize(("old", "new"), STORED_BEFORE.items())
def test_it_resolves_each_stored_task_name_as_the_worker_does(old, new):
    assert pydoc.locate(old) is import_string(new)


@pytest.mark.django_db(transaction=True)
def test_it_runs_tasks_queued_under_their_old_names_through_the_worker():
    async_task("packets.outbound.retry_due_deliveries")  # stored-name
    async_task("packets.zendesk.retry_due_tickets")  # stored-name
    assert queued_task_names() == [
        "packets.outbound.retry_due_deliveries",  # stored-name
        "packets.zendesk.retry_due_tickets",  # stored-name
    ]
    done = run_queued_tasks()
    assert [(task["success"], task["result"]) for task in done] == [(True, 0), (True, 0)]


@pytest.mark.django_db
def test_sync_schedules_moves_declared_schedules_stored_under_old_names():
    for name, func in OLD_SCHEDULES.items():
        Schedule.objects.create(name=name, func=func, schedule_type=Schedule.MINUTES, minutes=1, repeats=-1)
    report = dict(sync_schedules())
    assert report["zendesk.retry"] == report["outbound.retry"] == "updated"
    stored = dict(Schedule.objects.values_list("name", "func"))
    assert stored == {declared.name: declared.func for declared in SCHEDULES}
    for func in stored.values():
        assert callable(pydoc.locate(func)), func
    call_command("sync_schedules", stdout=StringIO())
    assert dict(Schedule.objects.values_list("name", "func")) == stored


@pytest.mark.parametrize("name", GONE)
def test_it_refuses_other_old_module_names(name):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"packets.{name}")
    with pytest.raises(AttributeError):
        getattr(importlib.import_module("packets"), name)


def test_a_stored_module_name_gives_its_tasks_and_nothing_else():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("packets.zendesk")  # stored-name
    from packets import zendesk  # stored-name

    assert zendesk.open_ticket is import_string("packets.integrations.zendesk.open_ticket")
    with pytest.raises(AttributeError, match=r"packets\.integrations\.zendesk"):
        zendesk.on_escalated  # noqa: B018
