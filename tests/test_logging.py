import contextlib
import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from config.logging import JsonFormatter
from tests.processes import Processes, production_env


def test_it_writes_one_json_object_per_line_with_the_ids_that_apply():
    record = logging.LogRecord("packets.notify", logging.INFO, __file__, 1, "sent %s", ("email",), None)
    record.message_id = 42
    record.case_id = 7
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "sent email"
    assert entry["message_id"] == 42 and entry["case_id"] == 7
    assert "order_id" not in entry
    assert entry["time"].endswith("+00:00")


# --------------------------------------------------------------------------- an idle worker is quiet


def _queue_lines(func: str, name: str) -> list[str]:
    """The lines django-q2 writes for one task (the formats of its scheduler, worker and monitor)."""
    return [
        f"Process-1:3 created task {name} from schedule [{name}]",
        f"Process-1:1 processing {name} '{func}'",
        f"Processed '{func}' ({name})",
    ]


def test_it_keeps_the_queue_lines_of_scheduled_runs_out_of_the_info_log(caplog):
    from packets.schedules import SCHEDULES

    caplog.set_level(logging.INFO)
    queue = logging.getLogger("django-q")
    for declared in SCHEDULES:
        for line in _queue_lines(declared.func, declared.name):
            queue.info(line)
    queue.info("Process-1:1 processing send-message-7 'packets.notify.tasks.send_message'")
    queue.info("Q Cluster backorder-desk starting.")
    assert [r.getMessage() for r in caplog.records] == [
        "Process-1:1 processing send-message-7 'packets.notify.tasks.send_message'",
        "Q Cluster backorder-desk starting.",
    ]


def test_it_shows_the_queue_lines_of_scheduled_runs_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("django-q").info("Processed 'packets.health.heartbeat' (ops.heartbeat)")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "Processed 'packets.health.heartbeat' (ops.heartbeat)")
    ]


@pytest.mark.django_db(transaction=True)
def test_every_schedule_that_finds_nothing_writes_nothing_at_info(caplog):
    """An idle store: each scheduled function runs once on an empty database and writes no INFO line
    (the weekly review is left out: once a week it is news, not idling)."""
    from django.utils.module_loading import import_string

    from packets.schedules import SCHEDULES

    caplog.set_level(logging.INFO)
    for declared in SCHEDULES:
        if declared.name != "review.weekly":
            import_string(declared.func)()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


@pytest.mark.django_db
def test_a_sweep_that_changed_something_says_so_at_info(caplog):
    from packets.tasks import run_sweep
    from tests.factories import BackorderedLineFactory

    BackorderedLineFactory()
    caplog.set_level(logging.INFO)
    run_sweep()
    assert any(r.levelno == logging.INFO and r.getMessage().startswith("Sweep: ") for r in caplog.records)


@pytest.mark.django_db(transaction=True)  # the scheduler closes the connection, as in its own process
def test_the_schedulers_turn_writes_nothing_at_info_but_a_task_someone_asked_for_does(caplog):
    """django-q2's own scheduler, run in-process on the test database with every schedule due."""
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule
    from django_q.scheduler import scheduler
    from django_q.tasks import async_task

    from packets.schedules import SCHEDULES, sync_schedules

    sync_schedules()
    Schedule.objects.update(next_run=timezone.now() - timedelta(minutes=1))
    caplog.set_level(logging.INFO)
    scheduler(broker=get_broker())
    assert OrmQ.objects.count() == len(SCHEDULES)  # every schedule took its turn
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []

    async_task("packets.notify.tasks.send_message", 1)  # a send someone approved
    assert any(r.getMessage().startswith("Enqueued [") for r in caplog.records if r.levelno == logging.INFO)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorns_access_log_never_shows_the_shippo_token(tmp_path):
    """A real gunicorn with the project's config: Shippo posts with ?token= on the URL."""
    token = "shippo-token-that-must-not-be-logged"
    processes = Processes(tmp_path)
    try:
        base = processes.web(production_env(SHIPPO_WEBHOOK_SECRET=token, WEB_CONCURRENCY="1", INTAKE_FOLLOWUP_TASK=""))
        for given in (token, "a-wrong-guess"):
            request = urllib.request.Request(
                f"{base}/webhooks/carriers/shippo/?token={given}&x=1",
                data=b'{"event": "track_updated", "data": {}}',
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10).read()
    finally:
        processes.stop_all()
    log = (tmp_path / "web.log").read_text()
    assert log.count("/webhooks/carriers/shippo/?token=[redacted]&x=1") == 2, log
    assert token not in log and "a-wrong-guess" not in log
