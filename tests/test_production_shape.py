"""The production shape, proven together: web and worker processes on PostgreSQL, on either broker.

Real processes against the test database: gunicorn with two workers, two ``manage.py qcluster``
clusters (each its own process group), four parallel ``manage.py receive_stock`` runs, and a real
SMTP server on loopback. The load: signed Shopify ``orders/create`` deliveries, each sent twice in
a shuffled order; an owner approving drafted messages over HTTP with a session and CSRF token;
stock received for ten SKUs. Half-way, one cluster is killed with SIGKILL and a replacement is
started (as a process supervisor would). On the Redis broker (a private ``redis-server`` of the test's
own), Redis is then stopped for a few seconds while deliveries and approvals go on: they are answered
as usual (their work is stored), clusters that died of it are started again, and the recovery
schedules hand the work over. At the end every cluster is stopped with SIGTERM to its process group
and must stop within ``Q_TIMEOUT``. Afterwards:

* one order per delivered order, no delivery failed;
* every approved message reached the SMTP server once, or more often only when it is flagged
  ``possible_duplicate`` (a worker died mid-send); none silently twice;
* per SKU, the units allocated equal min(demand, supply), and the product's counter agrees;
* every scheduled run ran once (probe schedules, recorded by run time).

Sizes: ``PRODSHAPE_ORDERS`` (default 2000) and ``PRODSHAPE_MESSAGES`` (default 200), the full load;
both brokers together take about 6 minutes on a busy 2-core machine (smaller values make a quick local
run). Settings for the run that differ from a deployment, and why:

* ``INTAKE_FOLLOWUP_TASK=""``: no sweep after each intake change; a sweep over thousands of orders
  on a 2-core machine would take most of the time budget and is not what this proves.
* ``Q_TIMEOUT=45``, ``Q_RETRY=60``: the ORM broker hands a killed worker's task out again after
  ``Q_RETRY`` seconds (180 in production); the recovery schedules (``intake.process_received``,
  ``notify.reconcile``) are set due once the load is done, so their next pass runs them now instead
  of minutes later: they are the path that recovers what a killed cluster held under Redis.
* ``STATIC_MANIFEST=false``: no ``collectstatic`` run for a test.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db.models import Sum
from django.utils import timezone
from django_q.models import Schedule

from backorders.models import Order, OrderLine, Product, WebhookDelivery
from backorders.roles import OWNER, ensure_groups
from packets.models import Message
from packets.schedules import sync_schedules
from tests import factories, schedule_probe
from tests.loopback import LoopbackSMTP
from tests.processes import PYTHON, Processes, production_env
from tests.reliability.private_redis import PrivateRedis

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORDERS = int(os.environ.get("PRODSHAPE_ORDERS", "2000"))
MESSAGES = int(os.environ.get("PRODSHAPE_MESSAGES", "200"))
SKUS = [f"PS-{n:02d}" for n in range(10)]
# demand is about 0.3 x ORDERS units per SKU: supply is short for most SKUs and ample for the last ones
SUPPLY = {sku: max(1, ORDERS * (1 + 2 * n) // 50) for n, sku in enumerate(SKUS)}
RECEIVERS = 4
PROBES = 5
SECRET = "prodshape-webhook-secret"
PASSWORD = "owner-password-for-the-proof"
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "webhooks" / "shopify-orders-create.json"


def _payloads() -> list[dict]:
    base = json.loads(SAMPLE.read_text())
    payloads = []
    for n in range(ORDERS):
        p = copy.deepcopy(base)
        p["id"] = 7_100_000_000 + n
        p["name"] = p["order_number"] = f"#PS{n}"
        p["email"] = p["contact_email"] = f"buyer{n % 500}@example.com"
        if p.get("customer"):
            p["customer"].update(id=6_100_000 + n % 500, email=p["email"], phone=None)
        lines = []
        for k in range(1 + n % 2):
            sku_index = (n + 3 * k) % len(SKUS)
            line = copy.deepcopy(base["line_items"][0])
            line.update(
                id=8_100_000_000 + 10 * n + k,
                sku=SKUS[sku_index],
                variant_id=5_100_000 + sku_index,
                product_id=4_100_000 + sku_index,
                quantity=1 + (n + k) % 3,
                current_quantity=1 + (n + k) % 3,
                fulfillment_status=None,
                gift_card=False,
            )
            lines.append(line)
        p["line_items"] = lines
        p.update(cancelled_at=None, closed_at=None, fulfillment_status=None, financial_status="paid")
        payloads.append(p)
    return payloads


def _signed(payload: dict, n: int) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Webhook-Id": f"prodshape-{n}",
        "X-Shopify-Shop-Domain": "backorder-desk-test.myshopify.com",
    }


class Figures(Counter):
    lock = threading.Lock()
    errors: list[BaseException]
    t0: float

    def run(self, target, *args) -> threading.Thread:
        """A thread whose exception is kept for the test to raise."""

        def guarded():
            try:
                target(*args)
            except BaseException as exc:
                self.errors.append(exc)

        return threading.Thread(target=guarded)

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self[key] += n


def _approve_all(base: str, message_ids: list[int], figures: Figures) -> None:
    """Log in as the owner with a session, then approve each draft with the CSRF token."""
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30).raise_for_status()
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": "olivia", "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:500]
    for message_id in message_ids:
        response = session.post(
            f"{base}/cases/messages/{message_id}/approve/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, response.text[:500]
        figures.add("approvals")
    figures["approvals done at"] = round(time.monotonic() - figures.t0)


def _receive(env: dict, figures: Figures, receiver: int) -> None:
    for sku in SKUS[receiver::RECEIVERS]:  # four runners at once, while orders arrive for the same SKUs
        result = subprocess.run(
            [PYTHON, "manage.py", "receive_stock", sku, str(SUPPLY[sku]), "--approve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        figures.add("receipts")
    figures["receipts done at"] = round(time.monotonic() - figures.t0)


def _settled() -> bool:
    pending_deliveries = WebhookDelivery.objects.filter(
        status__in=[WebhookDelivery.Status.RECEIVED, WebhookDelivery.Status.PROCESSING]
    ).exists()
    pending_messages = Message.objects.filter(
        status__in=[Message.Status.APPROVED, Message.Status.QUEUED, Message.Status.SENDING]
    ).exists()
    return not pending_deliveries and not pending_messages


@pytest.fixture
def probe_table():
    schedule_probe.create_table()
    yield
    schedule_probe.drop_table()


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_it_keeps_every_promise_under_load_with_a_killed_cluster(broker, probe_table, tmp_path):
    started = time.monotonic()
    smtp = LoopbackSMTP().start()
    extra = {
        "SHOPIFY_WEBHOOK_SECRETS": SECRET,
        "EMAIL_HOST": smtp.host,
        "EMAIL_PORT": str(smtp.port),
        "INTAKE_FOLLOWUP_TASK": "",
        "Q_TIMEOUT": "45",
        "Q_RETRY": "60",
        "STATIC_MANIFEST": "false",
        "WEB_CONCURRENCY": "2",
    }
    private_redis = PrivateRedis().start() if broker == "redis" else None
    if private_redis is not None:
        extra["REDIS_URL"] = private_redis.url
        redis.Redis.from_url(extra["REDIS_URL"]).flushdb()
    env = production_env(**extra)

    owner = factories.UserFactory(username="olivia")
    # a hash the real settings can check (the test settings use a faster hasher they do not list)
    type(owner).objects.filter(pk=owner.pk).update(password=PBKDF2PasswordHasher().encode(PASSWORD, "prodshape", 1000))
    owner.groups.add(ensure_groups()[OWNER])
    for n, sku in enumerate(SKUS):
        factories.ProductFactory(sku=sku, title=f"Proof item {n}", on_hand=0, allocated=0)
    drafts = [factories.MessageFactory(to=f"reader{n}@example.com").pk for n in range(MESSAGES)]
    sync_schedules()
    due = timezone.now() - timedelta(seconds=1)
    for n in range(PROBES):
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

    payloads = _payloads()
    sends = [(n, payload) for n, payload in enumerate(payloads)] * 2
    random.Random(7).shuffle(sends)
    figures = Figures()
    figures.errors = []
    figures.t0 = started
    processes = Processes(tmp_path)
    try:
        base = processes.web(env)
        figures["web up at"] = round(time.monotonic() - started)
        victim = processes.cluster("cluster-a", env)
        clusters = {"cluster-b": processes.cluster("cluster-b", env)}

        def deliver(item) -> None:
            n, payload = item
            body, headers = _signed(payload, n)
            response = requests.post(f"{base}/webhooks/shopify/", data=body, headers=headers, timeout=30)
            assert response.status_code == 200, response.text[:300]
            figures.add("deliveries")
            figures.add("duplicates" if response.json()["duplicate"] else "first copies")

        approver = figures.run(_approve_all, base, drafts, figures)
        receivers = [figures.run(_receive, env, figures, r) for r in range(RECEIVERS)]
        half = len(sends) // 2
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(deliver, sends[:half]))
            approver.start()
            for thread in receivers:
                thread.start()
            processes.kill(victim)  # SIGKILL the whole cluster, mid-work
            figures.add("kills")
            clusters["cluster-c"] = processes.cluster("cluster-c", env)  # the replacement a supervisor would start
            rest = sends[half:]
            if private_redis is not None:
                outage = len(rest) // 10
                private_redis.stop()  # the broker is down: stored work is still answered as usual
                list(pool.map(deliver, rest[:outage]))
                time.sleep(3)
                private_redis.start()
                figures["deliveries during the outage"] = outage
                for name, proc in list(clusters.items()):
                    if proc.poll() is not None:  # died of the outage: a supervisor starts it again
                        clusters[f"{name}-restarted"] = processes.cluster(f"{name}-restarted", env)
                        figures.add("clusters restarted after the outage")
                rest = rest[outage:]
            list(pool.map(deliver, rest))
            figures["deliveries done at"] = round(time.monotonic() - started)
        approver.join()
        for thread in receivers:
            thread.join()
        if figures.errors:
            raise figures.errors[0]
        figures["load done at"] = round(time.monotonic() - started)

        # What a killed cluster held comes back through the recovery schedules: make them due now.
        Schedule.objects.filter(name__in=["intake.process_received", "notify.reconcile", "notify.retry"]).update(
            next_run=timezone.now()
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not _settled():
            time.sleep(1)
            if int(deadline - time.monotonic()) % 20 == 0:  # their next turns, sooner than every 2 and 5 minutes
                Schedule.objects.filter(name__in=["intake.process_received", "notify.reconcile"]).update(
                    next_run=timezone.now()
                )
        while time.monotonic() < deadline and len({r[0] for r in schedule_probe.runs()}) < PROBES:
            time.sleep(1)
        # SIGTERM to each cluster's process group, as systemd's KillMode=control-group: stopped within Q_TIMEOUT
        for name, proc in clusters.items():
            if proc.poll() is None:
                stopping = time.monotonic()
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=45)
                figures[f"{name} stopped in s"] = round(time.monotonic() - stopping, 1)
    finally:
        processes.stop_all()
        smtp.stop()
        if private_redis is not None:
            private_redis.stop()
    figures["settled at"] = round(time.monotonic() - started)

    # one order per delivered order; nothing failed; each delivery twice, one of them a duplicate
    assert figures["deliveries"] == 2 * ORDERS and figures["duplicates"] == ORDERS
    assert Order.objects.count() == ORDERS
    assert Order.objects.values("external_id").distinct().count() == ORDERS
    statuses = Counter(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses.get(WebhookDelivery.Status.FAILED, 0) == 0, statuses
    assert statuses.get(WebhookDelivery.Status.RECEIVED, 0) == 0, statuses

    # each approved message reached the SMTP server once, or is flagged as a possible duplicate
    arrived = Counter(rcpt for mail in smtp.messages for rcpt in mail.rcpt_tos)
    messages = list(Message.objects.filter(pk__in=drafts))
    assert {m.status for m in messages} == {Message.Status.SENT}
    silent_twice = [m.to for m in messages if arrived[m.to] > 1 and not m.possible_duplicate]
    assert silent_twice == []
    assert all(arrived[m.to] >= 1 for m in messages)
    figures["messages sent"] = sum(arrived[m.to] for m in messages)
    figures["flagged possible duplicate"] = sum(m.possible_duplicate for m in messages)

    # per SKU: allocated == min(demand, supply), and the product's counter agrees with its lines
    for sku in SKUS:
        product = Product.objects.get(sku=sku)
        lines = OrderLine.objects.filter(product=product).exclude(state=OrderLine.State.CANCELLED)
        totals = lines.aggregate(demand=Sum("quantity"), allocated=Sum("allocated"))
        supply = SUPPLY[sku]
        assert product.on_hand == supply, sku
        assert totals["allocated"] == min(totals["demand"], supply) == product.allocated, (sku, totals, supply)

    # every scheduled run once
    runs = Counter((name, run_at) for name, run_at, _ in schedule_probe.runs())
    assert {name for name, _ in runs} == {f"probe-{n}" for n in range(PROBES)}
    assert [key for key, count in runs.items() if count > 1] == []
    figures["scheduled runs"] = sum(runs.values())

    print(f"\nproduction shape, {broker} broker: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
