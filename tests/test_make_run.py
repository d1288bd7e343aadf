"""`make run` as a new store owner runs it: customer links follow PORT, the local mail server listens on
EMAIL_PORT, and mail comes from the demo store (its name and address), never from the software.

Runs the real target (SQLite in a temporary folder, the real web server, worker and aiosmtpd), then
approves one drafted message as the owner would (a second process on the same database), lets `make
run`'s own worker send it, and reads the mail its local server printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from email.utils import parseaddr
from pathlib import Path

from tests.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent

SEND_ONE = """
from django.contrib.auth import get_user_model
from packets.notify.messaging import approve_message
from packets.models import Message
draft = Message.objects.filter(audience="customer", channel="email", status="draft", needs_owner=False,
                               guideline_issues=[]).exclude(step="").order_by("pk").first()
approve_message(draft.pk, get_user_model().objects.get(username="owner"))
print("APPROVED", draft.pk)
"""


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_follows_port_and_email_port_and_signs_mail_as_the_demo_store(tmp_path):
    port, mail_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SITE_URL", "STORE_", "EMAIL_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path}/demo.sqlite3",
        MEDIA_ROOT=str(tmp_path / "media"),
        EMAIL_PORT=str(mail_port),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DEBUG", None)
    env.pop("REDIS_URL", None)
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while not (_listening(port) and _listening(mail_port)):
            assert make.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert f"local SMTP server on 127.0.0.1:{mail_port}" in log.read_text()

        # the web process's environment, as make gave it: the same database, SITE_URL left unset
        shell_env = {**env, "DEBUG": "true", "PORT": str(port), "EMAIL_PORT": str(mail_port)}
        sent = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SEND_ONE],
            cwd=ROOT,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "APPROVED" in sent.stdout, sent.stdout + sent.stderr  # make run's own worker sends it

        deadline = time.monotonic() + 30
        while "---------- END MESSAGE ----------" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        printed = log.read_text().split("---------- MESSAGE FOLLOWS ----------", 1)[1]
        sender = next(line for line in printed.splitlines() if line.startswith("From: "))
        assert parseaddr(sender.removeprefix("From: ")) == (
            "Maple & Moss Home (demo store)",
            "orders@maple-moss.example",
        )
        assert f"http://127.0.0.1:{port}/o/" in printed
        assert "http://127.0.0.1:8000/" not in printed
        assert "Backorder Desk" not in printed and "orders@localhost" not in printed
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
