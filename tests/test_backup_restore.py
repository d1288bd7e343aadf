"""The backup in the README works: ``pg_dump -Fc`` of the database, ``pg_restore`` into a scratch one.

Runs the real client tools against the test database (committed rows, hence a transactional
test), restores into a scratch database, and counts rows there, including the packet hashes the
audit relies on and the append-only trigger on audit rows.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from django.db import connection

from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run(*args: str) -> str:
    s = connection.settings_dict
    env = {**os.environ, "PGHOST": s["HOST"] or "127.0.0.1", "PGPORT": str(s["PORT"] or 5432), "PGUSER": s["USER"]}
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = s["PASSWORD"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_it_restores_a_dump_into_a_scratch_database(tmp_path):
    for _ in range(3):
        factories.PacketFactory()
    dump = tmp_path / "backorder_desk.dump"
    scratch = f"restore_check_{uuid.uuid4().hex[:8]}"
    _run("pg_dump", "-Fc", "--no-owner", "-f", str(dump), connection.settings_dict["NAME"])
    _run("createdb", scratch)
    try:
        _run("pg_restore", "--no-owner", "--exit-on-error", "-d", scratch, str(dump))
        count = _run("psql", "-tA", "-d", scratch, "-c", "SELECT count(*) FROM packets_packet")
        hashes = _run("psql", "-tA", "-d", scratch, "-c", "SELECT count(DISTINCT content_sha256) FROM packets_packet")
        trigger = _run(
            "psql",
            "-tA",
            "-d",
            scratch,
            "-c",
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'packets_auditevent%'",
        )
    finally:
        _run("dropdb", "--if-exists", scratch)
    assert (int(count), int(hashes)) == (3, 1)  # same content, same hash
    assert int(trigger) >= 1
