"""``manage.py qcluster``: django-q2's cluster, with a stop that ends within ``Q_TIMEOUT``.

A process supervisor (systemd's ``KillMode=control-group``, a container runtime, ``kill -TERM -<pgid>``)
sends SIGTERM to every process of the cluster at once. django-q2's worker processes and their
sentinel die of it at once, and the main process's handler then sets the stop event that the
sentinel was waiting on when it died: a multiprocessing ``Event.set()`` waits for every waiter to
acknowledge, so it waited forever, with the dead sentinel left a zombie.

Here the main process sets the event from a thread it does not wait on, gives the sentinel
``Q_TIMEOUT`` less two seconds to stop its workers (a task running when only the main process got
SIGTERM may finish), then kills whatever of the cluster is still running. A task cut
short is delivered again by the queue, as for any worker that dies (tasks are idempotent).

This command takes the place of django-q2's own because ``django_q`` comes after this app in
``INSTALLED_APPS``; its options are the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

from django.conf import settings
from django_q.cluster import Cluster
from django_q.conf import Conf
from django_q.management.commands.qcluster import Command as QClusterCommand

logger = logging.getLogger("django-q")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # after the command name, which may hold spaces
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class BoundedCluster(Cluster):
    def stop(self) -> bool:
        sentinel, stop_event = self.sentinel, self.stop_event
        if sentinel is None or stop_event is None:
            return False
        budget = max(1.0, float(Conf.TIMEOUT or 30) - 2.0)
        logger.info("Q Cluster %s stopping (within %.0f s).", self.name, budget + 2)
        # set() can block for good when a process that waited on the event died: never wait on it here
        threading.Thread(target=stop_event.set, name="cluster-stop", daemon=True).start()
        sentinel.join(timeout=budget)
        leftover = descendants(os.getpid())
        if leftover:
            logger.warning(
                "Q Cluster %s: killing %d processes still running after %.0f s", self.name, len(leftover), budget
            )
            for pid in leftover:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            sentinel.join(timeout=1.0)
        logger.info("Q Cluster %s has stopped.", self.name)
        self.start_event = None
        self.stop_event = None
        return True


class Command(QClusterCommand):
    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (as upstream: refuse to start without the signing key)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = BoundedCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
