"""A cluster stops within ``Q_TIMEOUT`` on SIGTERM, sent to its process group or to its main process.

Real ``manage.py qcluster`` processes on the test database, each in its own process group, as a
supervisor runs them (systemd's ``KillMode=control-group`` signals the whole group; ``KillMode=mixed``
the main process first). Before the fix, SIGTERM to the group left the main process waiting for
ever on a stop event whose waiter had died, its dead sentinel a zombie (four tries in four here).
After each stop no process of the cluster is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from unittest import mock

import pytest
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.tasks import async_task

from tests.processes import Processes, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Q_TIMEOUT = 8


def _running(log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if log.exists() and " running." in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not start; see {log}")


def _live_members(pgid: int) -> list[tuple[int, str]]:
    """The group's processes that are not zombies, as (pid, state), read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append((int(entry.name), state))
    return members


def _stopped_within(proc: subprocess.Popen, seconds: float) -> float:
    started = time.monotonic()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the cluster was still running {seconds} s after SIGTERM")
    return time.monotonic() - started


def _env() -> dict[str, str]:
    return production_env(Q_TIMEOUT=str(Q_TIMEOUT), Q_RETRY=str(3 * Q_TIMEOUT), Q_WORKERS="2", INTAKE_FOLLOWUP_TASK="")


def _start(processes: Processes, name: str, tmp_path: Path) -> subprocess.Popen:
    proc = processes.cluster(name, _env())
    _running(tmp_path / f"{name}.log", time.monotonic() + 60)
    return proc


def _long_task(log: Path) -> None:
    """A task that outlives Q_TIMEOUT, signed with the cluster's key; returns once a worker took it."""
    with mock.patch.object(Conf, "SECRET_KEY", _env()["SECRET_KEY"]):  # django-q2 read the key at import
        async_task("time.sleep", 60, task_name="long-sleep", broker=ORM(list_key="backorder-desk"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "processing long-sleep" not in log.read_text():
        time.sleep(0.1)
    assert "processing long-sleep" in log.read_text(), "no worker took the task"


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "running-a-task"])
def test_sigterm_to_the_process_group_stops_the_cluster_within_q_timeout(busy, tmp_path):
    processes = Processes(tmp_path)
    took = []
    try:
        for attempt in range(3):
            proc = _start(processes, f"cluster-{attempt}", tmp_path)
            if busy:
                _long_task(tmp_path / f"cluster-{attempt}.log")
            time.sleep(0.5 + 0.4 * attempt)  # the sentinel waiting on its stop event at different points
            os.killpg(proc.pid, signal.SIGTERM)
            took.append(_stopped_within(proc, Q_TIMEOUT))
            time.sleep(0.5)
            assert _live_members(proc.pid) == []
    finally:
        processes.stop_all()
    print(f"\nstopped after SIGTERM to the group in {', '.join(f'{t:.1f}' for t in took)} s")


def test_sigterm_to_the_main_process_stops_a_busy_cluster_within_q_timeout(tmp_path):
    processes = Processes(tmp_path)
    try:
        proc = _start(processes, "cluster", tmp_path)
        _long_task(tmp_path / "cluster.log")
        os.kill(proc.pid, signal.SIGTERM)  # the main process only, as systemd's KillMode=mixed does first
        took = _stopped_within(proc, Q_TIMEOUT + 1)
        time.sleep(0.5)
        assert _live_members(proc.pid) == []
        assert "killing" in (tmp_path / "cluster.log").read_text()
    finally:
        processes.stop_all()
    print(f"\nstopped after SIGTERM to the main process in {took:.1f} s")
