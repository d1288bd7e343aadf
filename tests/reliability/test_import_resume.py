"""A CSV import whose worker is killed finishes: the lease runs out and the schedule resumes it.

Real processes on the test database: gunicorn takes the upload, a real ``manage.py qcluster``
runs the import and is SIGKILLed (its whole process group) right after the first 10,000-order
batch committed. The job then shows as stopped; once its lease ran out, a second cluster runs the
``imports.resume`` schedule, which hands the job over, and the import goes on from the last
committed batch. The result is that of one uninterrupted run: every order once, the totals and
the per-row report of the whole file, allocated units equal to what the lines hold, and the page
says what happened.

The queue's own redelivery of the killed task (``Q_RETRY``) is set far beyond the test, so only the
schedule can have finished the job. Size: ``IMPORT_RESUME_ORDERS`` (default 35,000 orders, four
batches).
"""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db.models import Sum
from django.utils import timezone
from django_q.models import Schedule

from backorders.intake.csv_import import Report
from backorders.intake.import_lease import LeaseLost, claim
from backorders.models import ImportJob, Order, OrderLine, Product
from backorders.roles import OWNER, ensure_groups
from tests import factories
from tests.processes import Processes, production_env

ORDERS = int(os.environ.get("IMPORT_RESUME_ORDERS", "35000"))
SKUS = [f"RES-{n}" for n in range(5)]
STOCK = 4000  # per SKU: short for some orders, so allocation has work in every batch
BAD = {5, ORDERS // 2, ORDERS - 3}  # orders with a quantity that is not a number
PASSWORD = "owner-password-for-the-import"
LEASE = 3


def _orders_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["Name", "Email", "Financial Status", "Created at", "Lineitem quantity", "Lineitem price", "Lineitem sku"]
    )
    for n in range(ORDERS):
        quantity = "two" if n in BAD else str(1 + n % 2)
        writer.writerow(
            [
                f"#R{n}",
                f"buyer{n % 700}@example.com",
                "paid",
                "2026-09-03 10:15:00 -0400",
                quantity,
                "12.50",
                SKUS[n % 5],
            ]
        )
    return out.getvalue().encode()


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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_import_is_resumed_by_the_schedule_with_the_totals_of_one_run(tmp_path):
    env = production_env(
        IMPORT_LEASE_SECONDS=str(LEASE),
        INTAKE_FOLLOWUP_TASK="",
        Q_TIMEOUT="300",
        Q_RETRY="3600",
        STATIC_MANIFEST="false",
        WEB_CONCURRENCY="1",
    )
    owner = factories.UserFactory(username="olivia")
    type(owner).objects.filter(pk=owner.pk).update(password=PBKDF2PasswordHasher().encode(PASSWORD, "resume", 1000))
    owner.groups.add(ensure_groups()[OWNER])
    for sku in SKUS:
        factories.ProductFactory(sku=sku, on_hand=STOCK, allocated=0)
    content = _orders_csv()
    processes = Processes(tmp_path)
    try:
        base = processes.web(env)
        first = processes.cluster("cluster-a", env)
        session = _logged_in(base)
        session.get(f"{base}/imports/", timeout=30).raise_for_status()
        response = session.post(
            f"{base}/imports/",
            data={"kind": "orders", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            files={"file": ("orders.csv", content, "text/csv")},
            allow_redirects=False,
            timeout=60,
        )
        assert response.status_code == 302, response.text[:500]
        job = ImportJob.objects.defer("content").get()

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            job.refresh_from_db(fields=["status", "checkpoint", "processed_rows"])
            if job.checkpoint.get("batches", 0) >= 1 or job.is_finished:
                break
            time.sleep(0.02)
        processes.kill(first)  # SIGKILL to the cluster's process group, mid-import
        job.refresh_from_db()
        assert job.status == ImportJob.Status.RUNNING, f"the import ended before the kill: {job.status}"
        killed_at = job.checkpoint["rows"]
        assert 0 < job.checkpoint["batches"] < -(-(ORDERS - len(BAD)) // 10_000)
        assert 0 < Order.objects.count() < ORDERS - len(BAD)

        # the page says the worker stopped, once the lease has run out
        time.sleep(LEASE + 0.5)
        page = session.get(f"{base}/imports/{job.pk}/", timeout=30)
        assert "It goes on from its last committed batch" in page.text

        Schedule.objects.create(
            name="imports.resume",
            func="backorders.tasks.resume_imports",
            schedule_type=Schedule.MINUTES,
            minutes=1,
            repeats=-1,
            next_run=timezone.now() - timedelta(seconds=1),
        )
        processes.cluster("cluster-b", env)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            job.refresh_from_db(fields=["status"])
            if job.is_finished:
                break
            time.sleep(0.5)
        job.refresh_from_db()
        page = session.get(f"{base}/imports/{job.pk}/", timeout=30)
    finally:
        processes.stop_all()

    assert job.status == ImportJob.Status.DONE, (job.status, job.error)
    assert job.resumes == 1
    assert f"stopped at {killed_at:,} of {ORDERS:,} rows" in job.note and "resumed at" in job.note
    assert "resumed at" in page.text and "It goes on from its last committed batch" not in page.text
    # the totals and report of one uninterrupted run
    assert job.processed_rows == job.total_rows == ORDERS
    assert job.summary["created"] == ORDERS - len(BAD) and job.summary.get("updated", 0) == 0
    assert job.summary["skipped"] == len(BAD) and job.summary["errors"] == len(BAD)
    assert [entry["row"] for entry in job.errors] == sorted(n + 2 for n in BAD)
    assert Order.objects.count() == Order.objects.values("external_id").distinct().count() == ORDERS - len(BAD)
    assert OrderLine.objects.count() == ORDERS - len(BAD)
    for product in Product.objects.filter(sku__in=SKUS):
        totals = OrderLine.objects.filter(product=product).aggregate(demand=Sum("quantity"), held=Sum("allocated"))
        assert product.allocated == totals["held"] == min(totals["demand"], STOCK), (product.sku, totals)


@pytest.mark.postgres
def test_a_worker_whose_lease_was_taken_over_cannot_write_another_batch(db, settings):
    job = ImportJob.objects.create(kind="orders", content=b"Name\n")
    stale = claim(job.pk)
    assert stale is not None and claim(job.pk) is None  # held: nobody else takes it
    ImportJob.objects.filter(pk=job.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1), total_rows=10, checkpoint={"batches": 1, "rows": 4}
    )
    taker = claim(job.pk)
    assert taker is not None and taker.token != stale.token and taker.batches_done == 1
    with pytest.raises(LeaseLost):
        stale.commit(2, 8, Report())
    job.refresh_from_db()
    assert job.checkpoint == {"batches": 1, "rows": 4} and job.resumes == 1
    assert "stopped at 4 of 10 rows" in job.note


@pytest.mark.postgres
def test_a_job_that_keeps_stopping_its_worker_fails_with_the_reason(db, settings):
    settings.IMPORT_MAX_RESUMES = 2
    job = ImportJob.objects.create(
        kind="orders",
        content=b"Name\n",
        status=ImportJob.Status.RUNNING,
        resumes=2,
        total_rows=9,
        lease_until=timezone.now() - timedelta(seconds=1),
        checkpoint={"batches": 1, "rows": 3, "entries": [], "counts": {"created": 3}},
    )
    assert claim(job.pk) is None
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and job.summary == {"created": 3}
    assert "resumed 2 times already" in job.error
