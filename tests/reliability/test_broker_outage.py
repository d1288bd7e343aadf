"""Redis down: work already stored is answered as success, and the reconcile schedules deliver it.

Real processes on the test database: gunicorn with ``REDIS_URL`` pointing at a private
``redis-server`` this test starts on a free port (never the machine's shared one), stops, and
starts again; a real ``qcluster`` afterwards; a real SMTP server on loopback. While Redis is down:

* a signed Shopify delivery is answered 200 (the delivery row is committed before the enqueue,
  so a 5xx would only make Shopify send it again), and is kept ``received``;
* the owner's approval of a draft answers with the usual redirect and the message shows as
  queued (its row is committed before the enqueue).

Then Redis comes back with a cluster, the recovery schedules are made due, and the order is
applied and the email sent, once each. Before the fix both requests answered 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone
from django_q.models import Schedule

from backorders.models import Order, WebhookDelivery
from backorders.roles import OWNER, ensure_groups
from packets.models import Message
from packets.schedules import sync_schedules
from tests import factories
from tests.backorders.intake_samples import sample
from tests.loopback import LoopbackSMTP
from tests.processes import Processes, production_env
from tests.reliability.private_redis import PrivateRedis

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "broker-outage-webhook-secret"
PASSWORD = "owner-password-for-the-outage"


def _signed_order() -> tuple[bytes, dict]:
    payload = sample("shopify-orders-create.json")
    payload.update(id=7_300_000_001, name="#OUT1", order_number="#OUT1")
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Webhook-Id": "broker-outage-1",
        "X-Shopify-Shop-Domain": "backorder-desk-test.myshopify.com",
    }


def _logged_in(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30).raise_for_status()
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": "olivia", "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def test_it_answers_success_for_stored_work_while_redis_is_down(tmp_path):
    broker = PrivateRedis().start()
    smtp = LoopbackSMTP().start()
    env = production_env(
        REDIS_URL=broker.url,
        SHOPIFY_WEBHOOK_SECRETS=SECRET,
        EMAIL_HOST=smtp.host,
        EMAIL_PORT=str(smtp.port),
        INTAKE_FOLLOWUP_TASK="",
        Q_TIMEOUT="20",
        Q_RETRY="30",
        STATIC_MANIFEST="false",
        WEB_CONCURRENCY="1",
    )
    owner = factories.UserFactory(username="olivia")
    type(owner).objects.filter(pk=owner.pk).update(password=PBKDF2PasswordHasher().encode(PASSWORD, "outage", 1000))
    owner.groups.add(ensure_groups()[OWNER])
    draft = factories.MessageFactory(to="waiting@example.com")
    sync_schedules()
    processes = Processes(tmp_path)
    try:
        base = processes.web(env)
        session = _logged_in(base)

        broker.stop()  # the outage: nothing listens on the broker's port now
        body, headers = _signed_order()
        response = requests.post(f"{base}/webhooks/shopify/", data=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text[:500]
        assert response.json()["duplicate"] is False
        delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
        assert delivery.status == WebhookDelivery.Status.RECEIVED

        response = session.post(
            f"{base}/cases/messages/{draft.pk}/approve/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, response.text[:500]
        draft.refresh_from_db()
        assert draft.status == Message.Status.QUEUED
        page = session.get(f"{base}{response.headers['Location']}", timeout=30)
        assert page.status_code == 200 and "Approved and queued" in page.text

        # The broker is back. The stored rows wait past the recovery window (moved back rather than
        # waited for), and the recovery schedules are due now, as their next turn would make them.
        broker = PrivateRedis()
        broker.port = int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        broker.start()
        earlier = timezone.now() - timedelta(minutes=5)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=earlier)
        Message.objects.filter(pk=draft.pk).update(queued_at=earlier)
        Schedule.objects.filter(name__in=["intake.process_received", "notify.reconcile"]).update(
            next_run=timezone.now()
        )
        processes.cluster("cluster", env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            draft.refresh_from_db()
            if delivery.status != WebhookDelivery.Status.RECEIVED and draft.status == Message.Status.SENT:
                break
            time.sleep(0.5)
    finally:
        processes.stop_all()
        broker.stop()
        smtp.stop()

    assert delivery.status == WebhookDelivery.Status.PROCESSED, (delivery.status, delivery.error)
    assert Order.objects.filter(external_id="7300000001").count() == 1
    assert draft.status == Message.Status.SENT
    assert [rcpt for mail in smtp.messages for rcpt in mail.rcpt_tos] == ["waiting@example.com"]
    assert "The task queue did not take delivery" in (tmp_path / "web.log").read_text()
