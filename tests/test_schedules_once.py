"""Two worker clusters at once run each scheduled run once, on either broker.

Both clusters are real ``manage.py qcluster`` processes on the test database. django-q2 runs its
scheduler from each cluster's guard loop about every 30 seconds, so the test lets both clusters
start together (their scheduler passes then collide) and waits until every due schedule has run.
The scheduler takes the due schedules with ``SELECT ... FOR UPDATE`` and moves ``next_run`` in the
same transaction; on PostgreSQL the second cluster's query waits for the row lock and then
re-checks ``next_run < now()`` against the committed row, so it skips a schedule the first one took.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.utils import timezone
from django_q.models import Schedule

from tests import schedule_probe
from tests.processes import Processes, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCHEDULES = 25


@pytest.fixture
def probe_table():
    schedule_probe.create_table()
    yield
    schedule_probe.drop_table()


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_it_runs_each_scheduled_run_once_with_two_clusters(broker, probe_table, tmp_path):
    extra = {}
    if broker == "redis":
        extra["REDIS_URL"] = "redis://127.0.0.1:6379/8"
        redis.Redis.from_url(extra["REDIS_URL"]).flushdb()
    due = timezone.now() - timedelta(seconds=5)
    for n in range(SCHEDULES):
        Schedule.objects.create(
            name=f"probe-{n}",
            func="tests.schedule_probe.record",
            args=repr((f"probe-{n}",)),
            intended_date_kwarg="scheduled_for",
            schedule_type=Schedule.MINUTES,
            minutes=1,
            repeats=-1,
            next_run=due,
        )
    started = time.monotonic()
    processes = Processes(tmp_path)
    env = production_env(**extra)
    try:
        processes.cluster("cluster-a", env)
        processes.cluster("cluster-b", env)
        deadline = time.monotonic() + 150  # returns as soon as every schedule ran; slow only on a busy machine
        while time.monotonic() < deadline and len({name for name, _, _ in schedule_probe.runs()}) < SCHEDULES:
            time.sleep(0.5)
        time.sleep(3)  # let a slower second pass finish, if it was going to run anything twice
        ran = time.monotonic() - started
    finally:
        processes.stop_all()

    runs = schedule_probe.runs()
    counts = Counter((name, run_at) for name, run_at, _ in runs)
    assert {name for name, _ in counts} == {f"probe-{n}" for n in range(SCHEDULES)}
    assert [key for key, count in counts.items() if count > 1] == []
    workers = len({pid for _, _, pid in runs})
    print(f"\n{broker}: {len(runs)} runs of {SCHEDULES} schedules by {workers} worker processes in {ran:.0f} s")
