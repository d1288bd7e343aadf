"""Health of the running system: database, broker and workers, for a load balancer or a monitor.

``GET /healthz`` needs no login and shows no secrets: only states, ages and counts.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .models import WorkerHeartbeat

WORKER_STALE_AFTER = timedelta(minutes=5)
HEARTBEAT = "worker"


def heartbeat() -> None:
    """Scheduled every minute: the worker that runs it proves a cluster is alive."""
    WorkerHeartbeat.objects.update_or_create(
        name=HEARTBEAT, defaults={"seen_at": timezone.now(), "host": socket.gethostname()[:255], "pid": os.getpid()}
    )


def prune_task_results() -> int:
    """Scheduled daily: delete successful task results older than ``TASK_RESULTS_KEEP_DAYS``.

    Failed tasks are kept for a person to read. Returns how many results were deleted.
    """
    from django_q.models import Success

    cutoff = timezone.now() - timedelta(days=settings.TASK_RESULTS_KEEP_DAYS)
    deleted, _ = Success.objects.filter(stopped__lt=cutoff).delete()
    return deleted


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure to reach the database is the answer itself
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor}


def _oldest_waiting_age(broker, now) -> float | None:
    from django_q.signing import SignedPackage

    if settings.Q_CLUSTER.get("redis"):
        payload = broker.connection.lindex(broker.list_key, 0)
    else:
        from django_q.models import OrmQ

        payload = OrmQ.objects.filter(key=broker.list_key).order_by("id").values_list("payload", flat=True).first()
    if not payload:
        return None
    started = SignedPackage.loads(payload).get("started")
    return round((now - started).total_seconds(), 1) if started else None


def _broker(now) -> dict:
    from django_q.brokers import get_broker

    try:
        broker = get_broker()
        if not broker.ping():
            return {"ok": False, "kind": "redis" if settings.Q_CLUSTER.get("redis") else "orm"}
        return {
            "ok": True,
            "kind": "redis" if settings.Q_CLUSTER.get("redis") else "orm",
            "queue_depth": broker.queue_size(),
            "oldest_waiting_s": _oldest_waiting_age(broker, now),
        }
    except Exception as exc:  # an unreachable broker is reported, not raised
        return {"ok": False, "error": type(exc).__name__}


def _worker(now) -> dict:
    beat = WorkerHeartbeat.objects.filter(name=HEARTBEAT).values("seen_at").first()
    if beat is None:
        return {"ok": False, "last_heartbeat_age_s": None}
    age = (now - beat["seen_at"]).total_seconds()
    return {"ok": age <= WORKER_STALE_AFTER.total_seconds(), "last_heartbeat_age_s": round(age, 1)}


def health_status() -> dict:
    now = timezone.now()
    database = _database()
    unknown = {"ok": False, "error": "database unreachable"}
    status = {
        "checked_at": now.isoformat(),
        "database": database,
        "broker": _broker(now) if database["ok"] or settings.Q_CLUSTER.get("redis") else unknown,
        "worker": _worker(now) if database["ok"] else unknown,
    }
    status["ok"] = all(status[part]["ok"] for part in ("database", "broker", "worker"))
    return status


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    status = health_status()
    return JsonResponse(status, status=200 if status["ok"] else 503)
