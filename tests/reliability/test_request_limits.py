"""Request bodies against a live gunicorn: bounded before they are read, chunked ones read whole.

Real gunicorn (one worker, so a kill hits the request in flight) on the test database, with
``INTAKE_IMPORT_MAX_MB=8`` and its own ``TMPDIR``, where Django spooled uploads over 2.5 MB before:

* an anonymous client (CSRF cookie from the login page) declaring a 200 MB upload is sent to the
  login page after the first megabyte, without the server waiting for the rest;
* a signed-in upload declared over the limit gets 413 before its body is sent; one sent chunked
  (no Content-Length) gets 413 once it passes the limit;
* a web worker SIGKILLed in the middle of a 6 MB upload leaves no file behind;
* an upload within the limit is imported as before;
* a signed Shopify delivery sent chunked is read within ``WEBHOOK_MAX_BYTES`` and accepted (it was
  answered 401: Django read an empty body); one past the limit gets the webhook's 413.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from backorders.management.commands.qcluster import descendants
from backorders.models import ImportJob, WebhookDelivery
from backorders.roles import OWNER, ensure_groups
from tests import factories
from tests.backorders.intake_samples import sample
from tests.processes import Processes, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MB = 1024 * 1024
PASSWORD = "owner-password-for-the-limits"
SECRET = "limits-webhook-secret"
BOUNDARY = "----backorder-desk-test"


@pytest.fixture
def server(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    env = production_env(
        INTAKE_IMPORT_MAX_MB="8",
        SHOPIFY_WEBHOOK_SECRETS=SECRET,
        WEBHOOK_MAX_BYTES=str(64 * 1024),
        INTAKE_FOLLOWUP_TASK="",
        STATIC_MANIFEST="false",
        WEB_CONCURRENCY="1",
        TMPDIR=str(spool),
    )
    owner = factories.UserFactory(username="olivia")
    type(owner).objects.filter(pk=owner.pk).update(password=PBKDF2PasswordHasher().encode(PASSWORD, "limits", 1000))
    owner.groups.add(ensure_groups()[OWNER])
    processes = Processes(tmp_path)
    try:
        base = processes.web(env)
        yield base, spool, processes.started[-1]
    finally:
        processes.stop_all()


def _session(base: str, *, signed_in: bool) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30).raise_for_status()
    if signed_in:
        response = session.post(
            f"{base}/accounts/login/",
            data={"username": "olivia", "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302
    return session


def _form_head(token: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ninventory\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nsku,on_hand\r\n"
    ).encode()


def _raw_upload(base: str, session: requests.Session, declared: int) -> socket.socket:
    """Open a connection and send the headers of a multipart POST to /imports/ declaring ``declared`` bytes."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    sock = socket.create_connection((host, port), timeout=10)
    cookies = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    head = (
        f"POST /imports/ HTTP/1.1\r\nHost: {host}\r\nCookie: {cookies}\r\nReferer: {base}/imports/\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def _status(sock: socket.socket) -> tuple[int, str]:
    answer = b""
    while b"\r\n\r\n" not in answer:
        part = sock.recv(65536)
        if not part:
            break
        answer += part
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    return int(head.split()[1]), head


def _spooled(spool: Path) -> list[Path]:
    return [path for path in spool.rglob("*") if path.is_file()]


def test_an_anonymous_upload_is_sent_to_login_before_its_body_is_read(server):
    base, spool, _ = server
    session = _session(base, signed_in=False)
    sock = _raw_upload(base, session, declared=200 * MB)
    sock.sendall(_form_head(session.cookies["csrftoken"]) + b"x" * MB)
    started = time.monotonic()
    status, head = _status(sock)  # times out (10 s) when the server waits for the other 199 MB
    sock.close()
    assert status == 302 and "Location: /accounts/login/?next=/imports/" in head
    assert time.monotonic() - started < 5
    assert _spooled(spool) == [] and not ImportJob.objects.exists()


def test_a_signed_in_upload_declared_over_the_limit_is_refused_before_its_body_is_sent(server):
    base, spool, _ = server
    session = _session(base, signed_in=True)
    sock = _raw_upload(base, session, declared=50 * MB)
    status, _ = _status(sock)  # nothing of the body sent
    sock.close()
    assert status == 413
    assert _spooled(spool) == [] and not ImportJob.objects.exists()


def test_a_chunked_upload_is_refused_once_it_passes_the_limit(server):
    base, spool, _ = server
    session = _session(base, signed_in=True)
    token = session.cookies["csrftoken"]
    sent = []

    def body():
        yield _form_head(token)
        for _ in range(40):  # 40 x 512 KiB: 20 MB, more than twice the limit
            sent.append(1)
            yield b"MUG,1\r\n" * (512 * 1024 // 7)

    try:
        response = requests.post(
            f"{base}/imports/",
            data=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Referer": f"{base}/imports/"},
            cookies=session.cookies,
            timeout=30,
        )
        status, text = response.status_code, response.text
    except requests.ConnectionError:  # the server may close before the client finished sending
        status, text = None, ""
    assert status in (413, None), text[:300]
    if status == 413:
        assert "larger than 8 MB" in text
    assert _spooled(spool) == [] and not ImportJob.objects.exists()


def test_a_web_worker_killed_mid_upload_leaves_no_file_behind(server):
    base, spool, master = server
    session = _session(base, signed_in=True)
    sock = _raw_upload(base, session, declared=6 * MB + 4096)
    sock.sendall(_form_head(session.cookies["csrftoken"]) + b"MUG,1\r\n" * (4 * MB // 7))
    time.sleep(1.5)  # the worker reads what was sent and waits for the rest
    workers = descendants(master.pid)
    assert workers, "no gunicorn worker"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    sock.close()
    # the master starts a new worker, which answers once it has booted: only then is the spool read,
    # since a booting worker's own start-up (its libraries' loader) may use temporary files for a moment
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code < 500:
                break
        except requests.RequestException:
            pass
        time.sleep(0.3)
    time.sleep(0.5)
    assert _spooled(spool) == []


def test_an_upload_within_the_limit_is_imported(server):
    base, spool, _ = server
    session = _session(base, signed_in=True)
    response = session.post(
        f"{base}/imports/",
        data={"kind": "inventory", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"file": ("stock.csv", b"sku,on_hand\n" + b"MUG,1\n" * (3 * MB // 6), "text/csv")},
        headers={"Referer": f"{base}/imports/"},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text[:300]
    job = ImportJob.objects.get()
    assert response.headers["Location"] == f"/imports/{job.pk}/" and len(bytes(job.content)) > 3 * MB - 100
    assert _spooled(spool) == []


def _signed(payload: dict) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Webhook-Id": f"chunked-{payload['id']}",
        "X-Shopify-Shop-Domain": "backorder-desk-test.myshopify.com",
    }


def _chunks(body: bytes, size: int = 1000):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_signed_chunked_webhook_is_read_within_the_limit_and_accepted(server):
    base, _, _ = server
    body, headers = _signed(sample("shopify-orders-create.json"))
    response = requests.post(f"{base}/webhooks/shopify/", data=_chunks(body), headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:300]
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert bytes(delivery.body) == body and delivery.signature_valid

    payload = sample("shopify-orders-create.json")
    payload["note"] = "x" * (70 * 1024)  # past WEBHOOK_MAX_BYTES (64 KiB)
    body, headers = _signed(payload)
    response = requests.post(f"{base}/webhooks/shopify/", data=_chunks(body, 8192), headers=headers, timeout=30)
    assert response.status_code == 413
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.REJECTED, body=b"").count() == 1
