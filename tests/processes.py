"""Real processes for the production-shape tests: gunicorn and ``manage.py qcluster`` on the test database.

Each process starts in its own process group (so a kill takes its children with it) and reads the
real settings (``config.settings``) from the environment, as a deployment would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.db import connection

from tests.loopback import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def current_database_url() -> str:
    """The URL of the database this test runs on (the test database, not the configured one)."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def production_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=current_database_url(),
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        ALLOWED_HOSTS="127.0.0.1",
        SECRET_KEY="production-shape-test-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Processes:
    """Started processes, each in its own group; ``stop_all`` ends every one of them."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        proc.log = log
        self.started.append(proc)
        return proc

    def cluster(self, name: str, env: dict[str, str]) -> subprocess.Popen:
        return self.start(name, [PYTHON, "manage.py", "qcluster"], env)

    def web(self, env: dict[str, str]) -> str:
        port = free_port()
        self.start("web", [GUNICORN, "-c", "config/gunicorn.conf.py", "config.wsgi"], {**env, "PORT": str(port)})
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                return base
            except urllib.error.HTTPError:
                return base  # 503 (no heartbeat yet) still means the server answers
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer on {base}; see {self.log_dir / 'web.log'}")

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM every group at once, then SIGKILL what is still running after ``grace`` seconds."""
        running = [proc for proc in self.started if proc.poll() is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(proc)
        for proc in self.started:
            proc.log.close()
