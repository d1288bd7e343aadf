"""A PostgreSQL cluster of the test's own, to restart without touching the shared server.

``initdb`` in a temporary directory (as the ``postgres`` OS user when the tests run as root, since
PostgreSQL refuses to run as root), trust authentication, a free port on 127.0.0.1, the socket
in the same directory. ``restart()`` is ``pg_ctl restart -m immediate``: every server process
exits at once without a checkpoint, as in a crash, and the next start replays the WAL.

``fsync=off``: the machine itself does not crash, so what PostgreSQL wrote is in the kernel's page
cache when it starts again; crash recovery from the WAL is what the restart exercises, and the
test does not wait on disk flushes. Commits stay synchronous: an acknowledged commit is in the WAL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.loopback import free_port


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt install postgresql)")
    return Path(found[-1]).parent


class PrivatePostgres:
    def __init__(self):
        self.bin = postgres_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="backorder-desk-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.restarts = 0

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            output = result.stderr or result.stdout
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {output}\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def start(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        return self

    def restart(self) -> None:
        """A crash-like restart: every server process stops at once, then the cluster recovers."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "immediate", "-w", "-t", "60", "restart")
        self.restarts += 1

    def stop(self) -> None:
        """Stop the cluster and remove its directory."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, database: str, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.url(database)) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture
def private_postgres():
    """A started private cluster, stopped and removed after the test whatever happened."""
    pg = PrivatePostgres()
    try:
        yield pg.start()
    finally:
        pg.stop()
