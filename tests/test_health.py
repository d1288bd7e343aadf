"""/healthz tells a load balancer whether this instance can do its work, without leaking secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from django_q.tasks import async_task

from packets.health import heartbeat, prune_task_results
from packets.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def test_it_answers_503_when_no_worker_was_ever_seen(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] and body["broker"]["ok"]
    assert body["worker"] == {"ok": False, "last_heartbeat_age_s": None}


def test_it_answers_200_with_queue_depth_and_the_oldest_waiting_task_age(client):
    heartbeat()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        async_task("packets.health.heartbeat")
        async_task("packets.health.heartbeat")
    with time_machine.travel(start + timedelta(seconds=90), tick=False):
        WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=30))
        response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["broker"]["kind"] == "orm"
    assert body["broker"]["queue_depth"] == 2
    assert body["broker"]["oldest_waiting_s"] == 90.0
    assert body["worker"] == {"ok": True, "last_heartbeat_age_s": 30.0}


def test_it_answers_503_when_the_last_heartbeat_is_older_than_five_minutes(client):
    heartbeat()
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["ok"] is False


def test_it_needs_no_login_and_shows_no_secrets(client):
    heartbeat()
    body = client.get("/healthz").content.decode()
    assert settings.SECRET_KEY not in body
    assert (settings.DATABASES["default"].get("PASSWORD") or "no-password") not in body
    assert settings.DATABASES["default"]["NAME"] not in body


def _health_in_a_process(env: dict[str, str]) -> tuple[int, dict]:
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(r.status_code); print(r.content.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "ALLOWED_HOSTS": "testserver", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 2, result.stderr
    return int(lines[-2]), json.loads(lines[-1])


def test_it_answers_503_when_the_database_is_unreachable():
    # A real unreachable database: nothing listens on port 1.
    status, body = _health_in_a_process({"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"})
    assert status == 503
    assert body["database"]["ok"] is False and body["ok"] is False


def test_it_reports_the_redis_broker_when_redis_url_is_set():
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    status, body = _health_in_a_process({"REDIS_URL": redis_url, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/x"})
    assert body["broker"]["kind"] == "redis"
    assert body["broker"]["ok"] is True
    assert status == 503  # the database is unreachable in this process, so the instance is not healthy


def test_it_prunes_successful_task_results_past_their_days_but_keeps_failures(settings):
    from django_q.models import Task

    settings.TASK_RESULTS_KEEP_DAYS = 7
    now = timezone.now()
    for name, age, success in [("old", 8, True), ("recent", 6, True), ("old failure", 30, False)]:
        started = now - timedelta(days=age)
        Task.objects.create(
            id=name.replace(" ", "-"),
            name=name,
            func="packets.health.heartbeat",
            started=started,
            stopped=started,
            success=success,
        )

    assert prune_task_results() == 1
    assert sorted(Task.objects.values_list("name", flat=True)) == ["old failure", "recent"]
