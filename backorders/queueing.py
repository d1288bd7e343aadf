"""Handing work that is already stored to the queue, without letting a broker outage fail the request.

A webhook delivery row, an approved message or a queued store action is committed before its task
is enqueued (``transaction.on_commit``). When the broker cannot take the task (Redis down or
restarting), the stored row is still there, and a reconcile schedule hands it to the queue later
(``intake.process_received``, ``notify.reconcile``, ``store_actions.retry``, ``imports.resume``).
So the request that stored it answers success; the refusal is logged, never raised.

Only the broker's own connection errors are caught. A task run inline (``sync``, in tests) raises
as it always did.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

logger = logging.getLogger("backorders.queueing")

# Redis refusing or dropping the connection; the ORM broker's database connection lost after commit.
BROKER_ERRORS = (RedisError, ConnectionError, TimeoutError, OperationalError, InterfaceError)


def enqueue_stored(func: str, *args, what: str, **kwargs) -> bool:
    """``async_task(func, *args, **kwargs)``; False (logged) when the broker cannot take it now.

    ``what`` names the stored row for the log ("delivery 12"), so a person can see what a reconcile
    schedule will pick up.
    """
    from django_q.conf import Conf
    from django_q.tasks import async_task

    inline = kwargs.get("q_options", {}).get("sync") or settings.Q_CLUSTER.get("sync") or Conf.SYNC
    if inline:
        async_task(func, *args, **kwargs)
        return True
    try:
        async_task(func, *args, **kwargs)
    except BROKER_ERRORS as exc:
        logger.warning(
            "The task queue did not take %s (%s: %s); it is stored, and a reconcile schedule will hand it over",
            what,
            type(exc).__name__,
            exc,
        )
        return False
    return True
