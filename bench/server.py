"""Child processes the benchmarks talk to: gunicorn serving the app, a django-q2 worker cluster."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """A child process in its own process group, stopped (group and all) on exit."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path):
        self.log_file = log.open("ab")
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the leader stops its own workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything of the group still running
        self.log_file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class WebServer(Child):
    """gunicorn with the production configuration (``config/gunicorn.conf.py``) on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 2):
        self.port = free_port()
        env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        env["WEB_CONCURRENCY"], env["WEB_THREADS"] = str(workers), str(threads)
        super().__init__([str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "config.wsgi"], env, log)
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_file.name}")
            try:
                if requests.get(self.url + "/accounts/login/", timeout=10).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s; see {self.log_file.name}")


class WorkerCluster(Child):
    """``manage.py qcluster``: the worker processes that send approved messages."""

    def __init__(self, env: dict[str, str], log: Path):
        super().__init__([sys.executable, "manage.py", "qcluster"], env, log)
