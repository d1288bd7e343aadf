"""The benchmark harness runs end to end at a tiny scale and writes results.json in its schema.

It runs ``bench/run.py --orders 300 --quick`` as a child process, as ``make bench`` does, against
a PostgreSQL database of its own beside the test database (the harness starts a web server and
a worker cluster, which must see committed rows). No timing is asserted: only that every
measurement ran and reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from bench.run import BIG_PHASES, PHASES

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
RESULT_KEYS = {"name", "value", "unit", "baseline", "ratio", "target", "met"}
MACHINE_KEYS = {"cpu", "cores", "memory_gb", "python", "postgres", "date"}


def smoke_database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}_bench_smoke"


def test_it_runs_every_measurement_and_writes_the_results_schema(tmp_path):
    output = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DATABASE_URL"] = smoke_database_url()
    run = subprocess.run(
        [sys.executable, "bench/run.py", "--orders", "300", "--quick", "--big", "400", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    data = json.loads(output.read_text())
    assert set(data["machine"]) >= MACHINE_KEYS
    assert data["machine"]["cores"] >= 1
    results = {r["name"]: r for r in data["results"]}
    for r in data["results"]:
        assert set(r) >= RESULT_KEYS, r
    expected = {name for _, _, names in PHASES for name, _, _ in names}
    assert expected <= set(results)
    assert {f"memory_{phase}_peak_mb" for phase, _, _ in PHASES} <= set(results)
    for name in expected:
        assert results[name]["value"] is not None, results[name]
        assert results[name]["baseline"] is not None, results[name]
        assert results[name]["ratio"] is not None, results[name]
    assert results["memory_sweep_process_peak_mb"]["value"] > 0
    # the big store's point (make bench BENCH_1M=1), here at 400 orders: the same names with _1m
    big = {name + "_1m" for phase, _, names in PHASES if phase in BIG_PHASES for name, _, _ in names}
    assert big <= set(results)
    for name in big:
        assert results[name]["value"] is not None, results[name]
    assert results["seed_scale_s_1m"]["value"] > 0 and data["run"]["big_orders"] == 400
    # a target is judged: met is a boolean wherever a target is set, null where none is
    for r in data["results"]:
        assert (r["met"] is None) == (r["target"] is None), r
    assert results["webhook_ack_p99_ms"]["target"] == "<= 50"
    # the table printed the same figures
    assert "webhook_ack_p99_ms" in run.stdout
    assert "approve_to_send_p95_s" in run.stdout
