"""The full reconcile split across forked processes leaves exactly what one process leaves.

These tests commit (``transaction=True``): each part runs in a child process over a connection of
its own, which sees only committed rows. Inside an enclosing transaction the sweep stays in one
process, which the last test checks.
"""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction

from packets import sweep as sweep_module
from packets.models import Case, DirtyCaseKey, Packet
from packets.sweep import QUEUE_FIELDS, run_sweep
from packets.sweep.processes import PartFailed, in_processes
from tests import factories
from tests.packets.test_sweep_changed import _random_change, random_catalog, waiting_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wednesday


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def in_three(settings):
    """Every full run from one case on goes to three processes (``settings`` is restored after)."""
    settings.SWEEP_PROCESSES = 3
    settings.SWEEP_PARALLEL_FROM = 1
    return settings


def random_store(rng: random.Random) -> tuple[list, list]:
    products, suppliers = random_catalog(rng)
    for _ in range(24):
        order = waiting_order(rng.choice(products), placed_at=NOW - timedelta(hours=rng.randint(1, 300)))
        if rng.random() < 0.3:
            factories.ShipmentFactory(order=order, label_created_at=NOW - timedelta(days=rng.randint(1, 12)))
    return products, suppliers


def state() -> dict:
    """Every case with its queue fields and its latest packet (version, facts hash, changes)."""
    latest = {
        p["case_id"]: p
        for p in Packet.objects.order_by("case_id", "version").values(
            "case_id", "version", "facts_sha256", "content_sha256", "changes", "recommendation", "risk_level"
        )
    }
    cases = Case.objects.exclude(status=Case.Status.RESOLVED).values("id", "dedupe_key", "status", *QUEUE_FIELDS)
    return {
        case["dedupe_key"]: (case, {k: v for k, v in latest[case["id"]].items() if k != "case_id"}) for case in cases
    }


def clock() -> set[tuple[str, datetime]]:
    return set(DirtyCaseKey.objects.filter(due_at__gt=NOW).values_list("key", "due_at"))


def due() -> set[str]:
    return set(DirtyCaseKey.objects.filter(due_at__lte=NOW).values_list("key", flat=True))


@pytest.mark.parametrize("seed", [5, 17, 88])
def test_a_full_run_in_processes_leaves_what_one_process_leaves(policy, owner, in_three, frozen, seed):
    rng = random.Random(seed)
    products, suppliers = random_store(rng)
    now = NOW
    for round_ in range(4):
        result = run_sweep(now, hooks=False)
        assert result.processes == 3 and result.part_peak_mb > 0
        if round_ == 0:
            assert result.opened == Case.objects.count() > 10 and result.packets == result.opened
        assert result.open_cases == Case.objects.exclude(status=Case.Status.RESOLVED).count()
        assert not due(), "the full run settled every due key"
        cases, times = state(), clock()
        assert times, "the run set the cases' clock"

        in_three.SWEEP_PROCESSES = 1
        again = run_sweep(now, hooks=False)
        assert again.processes == 1
        assert not again.changed, f"one process found work the processes left: {again}"
        assert state() == cases and clock() == times, "and it leaves the cases, packets and clock as they were"
        in_three.SWEEP_PROCESSES = 3

        for _ in range(rng.randint(3, 9)):
            _random_change(rng, products, suppliers, owner, now)
        now += timedelta(hours=rng.choice([1, 7, 30]))
        frozen.move_to(now)


def test_a_part_that_fails_fails_the_run_and_leaves_the_keys_due(policy, in_three, monkeypatch):
    random_store(random.Random(3))
    marked = due()
    assert marked, "the store's writes marked their keys"
    real = sweep_module._reconcile_part

    def second_part_fails(snap, index, parts):
        if index == 1:
            raise RuntimeError("the second part's database went away")
        return real(snap, index, parts)

    monkeypatch.setattr(sweep_module, "_reconcile_part", second_part_fails)
    with pytest.raises(PartFailed, match=r"(?s)part 2 of 3: .*the second part's database went away"):
        run_sweep(NOW, hooks=False)
    assert due() == marked, "the run rolled back: every key it had settled is due again"
    committed = set(Case.objects.values_list("dedupe_key", flat=True))
    failed = sweep_module._Part(1, 3)
    assert committed and not any(key in failed for key in committed), "the parts that worked committed their cases"
    clocked = {key for key, _ in clock()}
    assert clocked and not any(key in failed for key in clocked), "and their clock; the failed part neither"

    monkeypatch.setattr(sweep_module, "_reconcile_part", real)
    result = run_sweep(NOW, hooks=False)  # the parent's own connection still works
    assert result.processes == 3 and not due()
    assert committed < set(Case.objects.values_list("dedupe_key", flat=True)), "the next run did the failed part"
    in_three.SWEEP_PROCESSES = 1
    assert not run_sweep(NOW, hooks=False).changed


def test_inside_an_enclosing_transaction_the_run_stays_in_one_process(policy, in_three):
    waiting_order(factories.ProductFactory(on_hand=0))
    with transaction.atomic():
        waiting_order(factories.ProductFactory(on_hand=0))  # written, not committed: no child would see it
        result = run_sweep(NOW, hooks=False)
        assert result.processes == 1 and result.opened == Case.objects.count() == 4  # two orders, two products
    assert connection.vendor == "postgresql"


def _ended(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_parts_end_with_the_process_that_started_them(tmp_path):
    """A worker killed at its timeout takes its parts with it: none goes on writing for a run that
    is gone (their transactions roll back with their connections)."""

    def part(index: int, parts: int) -> None:
        (tmp_path / f"part-{index}").write_text(str(os.getpid()))
        time.sleep(60)

    runner = os.fork()
    if runner == 0:  # pragma: no cover - the runner is killed below
        try:
            in_processes(part, 2)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("part-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    parts = [int(path.read_text()) for path in tmp_path.glob("part-*")]
    assert len(parts) == 2 and not any(_ended(pid) for pid in parts)
    os.kill(runner, signal.SIGKILL)
    os.waitpid(runner, 0)
    while not all(_ended(pid) for pid in parts) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_ended(pid) for pid in parts), "a part outlived the process that started it"
