"""Two real ``manage.py qcluster`` processes run the scheduled sweep task side by side on the test
database: every dirty key is claimed once, none is left, and no case gets a version twice."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import Task
from django_q.tasks import async_task

from backorders.models import Order, OrderLine
from packets.models import Case, DirtyCaseKey
from packets.sweep import run_sweep
from tests import factories
from tests.processes import Processes, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORDERS = 40
TASKS = 8


def _env() -> dict[str, str]:
    # three keys a batch, so each run takes many batches and the clusters' runs overlap
    return production_env(Q_WORKERS="2", INTAKE_FOLLOWUP_TASK="", SWEEP_BATCH_KEYS="3")


def _running(log, deadline: float) -> None:
    while time.monotonic() < deadline:
        if log.exists() and " running." in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not start; see {log}")


def _database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def test_two_clusters_sweep_the_dirty_keys_once_each(policy, tmp_path):
    now = _database_now()  # the clusters run on the real clock: so does this store
    supplier = factories.SupplierFactory()
    products = [factories.ProductFactory(on_hand=0) for _ in range(4)]
    for product in products:
        factories.SupplierSourceFactory(supplier=supplier, product=product)
    orders = []
    for n in range(ORDERS):
        order = factories.OrderFactory(
            placed_at=now - timedelta(hours=2), promised_ship_by=(now + timedelta(days=9)).date()
        )
        factories.OrderLineFactory(order=order, product=products[n % 4], quantity=1, state=OrderLine.State.BACKORDERED)
        orders.append(order)
    run_sweep(now, hooks=False)
    assert not DirtyCaseKey.objects.filter(due_at__lte=now).exists()
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(promised_ship_by=now.date())  # one key per order

    processes = Processes(tmp_path)
    try:
        for name in ("cluster-a", "cluster-b"):
            processes.cluster(name, _env())
        for name in ("cluster-a", "cluster-b"):
            _running(tmp_path / f"{name}.log", time.monotonic() + 60)
        with mock.patch.object(Conf, "SECRET_KEY", _env()["SECRET_KEY"]):  # django-q2 read the key at import
            for n in range(TASKS):
                async_task("packets.tasks.run_sweep", task_name=f"sweep-{n}", broker=ORM(list_key="backorder-desk"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and Task.objects.filter(func="packets.tasks.run_sweep").count() < TASKS:
            time.sleep(0.3)
    finally:
        processes.stop_all()

    runs = Task.objects.filter(func="packets.tasks.run_sweep")
    assert runs.count() == TASKS and all(run.success for run in runs), [run.result for run in runs]
    claimed = [int(m.group(1)) if (m := re.search(r"(\d+) dirty keys", run.result)) else 0 for run in runs]
    assert sum(claimed) == ORDERS, f"every key claimed once, none twice: {claimed}"
    assert not DirtyCaseKey.objects.filter(due_at__lte=now + timedelta(minutes=5)).exists(), "none left"
    for order in orders:
        case = Case.objects.get(dedupe_key=f"backorder:order:{order.pk}")
        assert list(case.packets.order_by("version").values_list("version", flat=True)) == [1, 2]
        assert case.promise_at_risk
