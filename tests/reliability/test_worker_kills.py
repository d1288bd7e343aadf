"""SIGKILL the worker while approved messages go out: none lost, a repeat only when flagged.

Real parts: ``manage.py qcluster`` as its own process group on the test database (ORM broker,
``Q_WORKERS=2``), an aiosmtpd server on loopback that keeps each message and then takes 0.15 s
to answer (so a kill often lands after the server has the message and before the worker heard
it did), and 50 drafts approved by the owner (``approve_message``, which queues them on commit).

The cluster is killed with SIGKILL ``KILLS`` times (default 4) at seeded random points
(``KILL_SEED``, default 11): each time after the running cluster delivered a random 1 to 5
messages, plus up to 0.2 s, and then started again, as a supervisor would. Afterwards:

* every message is sent, none failed, none still queued or sending: nothing lost;
* a message that reached the server twice is flagged ``possible_duplicate`` (the case page says
  "may have gone twice"), and arrived at most once more per kill;
* in all, no more repeats than worker processes killed (``KILLS x Q_WORKERS``): one per send
  a kill interrupted.

Queue settings that differ from a deployment, and why: ``Q_TIMEOUT=5``, ``Q_RETRY=10`` (180 s in
production), so the broker hands a dead cluster's tasks out again within the test's time.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from packets.models import AuditEvent, Message
from packets.notify.messaging import approve_message
from tests import factories
from tests.loopback import LoopbackSMTP
from tests.processes import Processes, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MESSAGES = 50
KILLS = int(os.environ.get("KILLS", "4"))
SEED = int(os.environ.get("KILL_SEED", "11"))
WORKERS = 2
SETTLE_SECONDS = 120


def unsettled() -> int:
    return Message.objects.filter(
        status__in=[Message.Status.APPROVED, Message.Status.QUEUED, Message.Status.SENDING]
    ).count()


def wait_for_arrivals(smtp: LoopbackSMTP, count: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len(smtp.messages) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(smtp.messages) >= count, f"the cluster sent nothing for {seconds} s; see its log"


def test_it_sends_every_approved_message_through_repeated_sigkills(owner, owner_client, settings, tmp_path):
    started = time.monotonic()
    rng = random.Random(SEED)
    smtp = LoopbackSMTP().start()
    smtp.handler.delay = 0.15
    env = production_env(
        SECRET_KEY=settings.SECRET_KEY,  # the queue's tasks are signed with it, here and in the cluster
        EMAIL_HOST=smtp.host,
        EMAIL_PORT=str(smtp.port),
        Q_WORKERS=str(WORKERS),
        Q_TIMEOUT="5",
        Q_RETRY="10",
        INTAKE_FOLLOWUP_TASK="",
        STATIC_MANIFEST="false",
    )
    messages = []
    for n in range(MESSAGES):
        case = factories.PacketFactory().case  # a case with its packet, so its page shows its messages
        draft = factories.MessageFactory(case=case, order=case.order, to=f"reader{n}@example.com")
        messages.append(approve_message(draft.pk, owner).pk)  # queued on commit, on the ORM broker

    processes = Processes(tmp_path)
    kills: list[dict] = []
    try:
        cluster = processes.cluster("cluster-0", env)
        for k in range(KILLS):
            wait_for_arrivals(smtp, len(smtp.messages) + rng.randint(1, 5))
            time.sleep(rng.uniform(0, 0.2))
            in_flight = Message.objects.filter(status=Message.Status.SENDING).count()
            processes.kill(cluster)  # SIGKILL the whole process group: the cluster and its workers
            at = round(time.monotonic() - started, 1)
            kills.append({"at_s": at, "arrived": len(smtp.messages), "left_sending": in_flight})
            cluster = processes.cluster(f"cluster-{k + 1}", env)
        deadline = time.monotonic() + SETTLE_SECONDS
        while unsettled() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        processes.stop_all()
        smtp.stop()
    elapsed = time.monotonic() - started

    # nothing lost: every message sent, none failed
    statuses = Counter(Message.objects.filter(pk__in=messages).values_list("status", flat=True))
    assert statuses == {Message.Status.SENT: MESSAGES}, statuses
    assert len(kills) == KILLS

    # each arrived; a repeat only when flagged, at most once more per kill; one per killed worker at most
    arrived = Counter(rcpt for mail in smtp.messages for rcpt in mail.rcpt_tos)
    rows = {m.to: m for m in Message.objects.filter(pk__in=messages).select_related("case")}
    assert set(arrived) == set(rows)
    repeated = {to: count - 1 for to, count in arrived.items() if count > 1}
    assert [to for to in repeated if not rows[to].possible_duplicate] == []
    assert all(extra <= KILLS for extra in repeated.values())
    assert sum(repeated.values()) <= KILLS * WORKERS, (repeated, kills)
    ids = {mail.message["Message-ID"] for mail in smtp.messages}
    assert ids == {m.provider_id for m in rows.values()}  # a repeat carries the same Message-ID

    # the flag is on the case page, for the owner to see
    for to in repeated:
        response = owner_client.get(f"/cases/{rows[to].case_id}/")
        assert response.status_code == 200 and b"may have gone twice" in response.content

    flagged = sum(m.possible_duplicate for m in rows.values())
    taken_over = AuditEvent.objects.filter(action="message.redelivered").count()
    print(
        f"\nworker kills: {KILLS} SIGKILLs (seed {SEED}) at {kills}; {MESSAGES} messages sent, "
        f"{sum(arrived.values())} arrivals, {sum(repeated.values())} repeats (all flagged), {flagged} flagged, "
        f"{taken_over} sends taken over from a dead worker, 0 lost; {elapsed:.1f} s"
    )
