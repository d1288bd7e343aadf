"""Work split across forked processes, each in a database transaction of its own.

The full reconcile of a large store is CPU work in Python (building, encoding and comparing tens
of thousands of packets) beside PostgreSQL's own (parsing and storing them). One process uses one
core; ``in_processes`` forks one child per part once the snapshot is read, so each child shares
the parent's snapshot (copy-on-write) and reconciles its part over a connection of its own, and
the parts run on as many cores as the machine gives them.

A child commits its part on its own: what it wrote is right for the snapshot whatever the other
parts do, as an incremental batch is. A part that fails rolls back alone and makes the parent fail
(so the parent's transaction, holding the dirty keys it settled, rolls back too and those keys stay
due for the next run). The children never touch the parent's connection: its socket is the
parent's session, so a child keeps the inherited connection object alive and unclosed (closing it
would end the parent's session) and leaves through ``os._exit``.

Only on PostgreSQL, and only from an outermost transaction: a child cannot see what an enclosing
one (a test's own, say) has not committed.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

PR_SET_PDEATHSIG = 1  # linux/prctl.h
_INHERITED: list[Any] = []  # the parent's connection, held in a child so its finalizer never runs


class PartFailed(RuntimeError):
    """A part of the work failed in its process; its transaction rolled back."""


def processes_for(size: int) -> int:
    """How many processes a run of ``size`` cases takes: ``SWEEP_PROCESSES`` (0: the machine's
    cores, at most four) from ``SWEEP_PARALLEL_FROM`` cases on, on PostgreSQL, when the caller's
    transaction is the outermost one; otherwise one. (Inside an enclosing transaction, a test's
    say, the children would not see what it wrote.)"""
    wanted = settings.SWEEP_PROCESSES or min(os.cpu_count() or 1, 4)
    if wanted < 2 or size < settings.SWEEP_PARALLEL_FROM or connection.vendor != "postgresql":
        return 1
    return wanted if len(connection.atomic_blocks) <= 1 else 1


def in_processes(work: Callable[[int, int], Any], parts: int) -> tuple[list[Any], float]:
    """``work(index, parts)`` for each part, each in a forked process and a transaction of its own:
    their return values (picklable) in part order, and the largest peak memory of a child (MB).
    Raises ``PartFailed`` when any part failed, once every child has ended.

    ``os.fork`` rather than ``multiprocessing``: a worker cluster's processes are daemonic, and
    ``multiprocessing`` refuses to start children from those.
    """
    gc.freeze()  # the snapshot's objects stay shared: the collector does not touch their pages
    parent = os.getpid()
    children: list[tuple[int, int]] = []
    outcomes: list[tuple[bool, Any]] = []
    peak = 0.0
    try:
        for index in range(parts):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's coverage is not collected
                os.close(read)
                _child(work, index, parts, write, parent)
            os.close(write)
            children.append((pid, read))
        for _, read in children:
            outcomes.append(_outcome(read))
    finally:
        for pid, read in children:
            if len(outcomes) < parts:  # the parent is leaving early: its children go with it
                _kill(pid)
            _, _, usage = os.wait4(pid, 0)
            peak = max(peak, usage.ru_maxrss / 1024)
            os.close(read)
        gc.unfreeze()
    failures = [detail for ok, detail in outcomes if not ok]
    if failures:
        raise PartFailed(f"{len(failures)} of {parts} parts failed:\n" + "\n".join(failures))
    return [value for _, value in outcomes], peak


def _outcome(read: int) -> tuple[bool, Any]:
    with os.fdopen(os.dup(read), "rb") as stream:
        data = stream.read()
    if not data:
        return False, "a part's process ended without a result (killed, or out of memory)"
    return pickle.loads(data)  # noqa: S301 - written by our own child over a pipe


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _die_with_parent(parent: int) -> None:
    """On Linux, the kernel kills this child when its parent ends (a worker stopped at its timeout,
    say), so no part goes on writing for a run that is gone: its transaction rolls back."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(1)


def _child(work: Callable[[int, int], Any], index: int, parts: int, write: int, parent: int) -> None:
    try:
        _die_with_parent(parent)
        _INHERITED.append(connections[DEFAULT_DB_ALIAS])
        connections[DEFAULT_DB_ALIAS] = connections.create_connection(DEFAULT_DB_ALIAS)
        with transaction.atomic():
            value = work(index, parts)
        outcome = (True, value)
    except BaseException:  # reported to the parent, which raises
        outcome = (False, f"part {index + 1} of {parts}: {traceback.format_exc()}")
    try:
        with os.fdopen(write, "wb") as stream:
            stream.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
        connections[DEFAULT_DB_ALIAS].close()
    finally:
        os._exit(0)
