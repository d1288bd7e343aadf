"""Run what django-q2's broker holds through django-q2's own worker loop, in this process.

The task is taken from the broker (ORM broker in the test database), unpacked as the cluster's
pusher does, executed by ``django_q.worker.worker`` and acknowledged. Tests that use it need
``django_db(transaction=True)``: the worker closes database connections it finds inside a
transaction, as a real worker process would.
"""

from __future__ import annotations

import queue
from multiprocessing import Value

from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from django_q.worker import worker


def run_queued_tasks(max_rounds: int = 10) -> list[dict]:
    """Run queued tasks until the broker is empty; returns the finished task dicts."""
    broker = get_broker()
    done: list[dict] = []
    for _ in range(max_rounds):
        if not OrmQ.objects.exists():  # dequeue() sleeps when the queue is empty
            break
        for ack_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            task_queue, result_queue = queue.Queue(), queue.Queue()
            task_queue.put(task)
            task_queue.put("STOP")
            worker(task_queue, result_queue, Value("f", -1))
            done.append(result_queue.get_nowait())
            broker.acknowledge(ack_id)
    return done


def queued_task_names() -> list[str]:
    return [SignedPackage.loads(row.payload)["func"] for row in OrmQ.objects.order_by("pk")]
