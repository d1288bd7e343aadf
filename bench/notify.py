"""Customer email: the worker's sending rate, and approval-to-sent latency through a real queue.

Both send to a real SMTP server (aiosmtpd) on loopback. Baseline: the same email bytes sent
with ``smtplib``, one connection per message as Django's SMTP backend opens one per send.
``approve_to_send_p95_s`` approves drafts with ``packets.notify.messaging.approve_message`` while a
``manage.py qcluster`` child process runs the real worker path (``send_message``), and waits
for each row to read ``sent``: it includes the queue's poll interval (``Q_CLUSTER['poll']``).
"""

from __future__ import annotations

import smtplib
import threading
import time

from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.utils import timezone

from packets.models import Case, Message

from .core import Context, Result, percentile
from .intake import _clear_queue
from .server import WorkerCluster

BODY = (
    "Hello, your order is waiting on stock from our supplier. We expect it to ship between {start} and {end}. "
    "We will write again when it ships."
)


class CountingHandler:
    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.count += 1
        return "250 Message accepted for delivery"


def smtp_server() -> tuple[Controller, CountingHandler]:
    handler = CountingHandler()
    controller = Controller(handler, hostname=settings.EMAIL_HOST, port=settings.EMAIL_PORT)
    controller.start()
    return controller, handler


def _messages(count: int, *, status: str, tag: str) -> list[Message]:
    now = timezone.now()
    cases = list(Case.objects.order_by("pk").values_list("pk", flat=True)[:count])
    approved = {"approved_at": now, "queued_at": now} if status == Message.Status.QUEUED else {}
    return Message.objects.bulk_create(
        Message(
            case_id=cases[i % len(cases)] if cases else None,
            channel=Message.Channel.EMAIL,
            audience=Message.Audience.CUSTOMER,
            to=f"customer{i}@example.com",
            subject="An update on your order",
            body=BODY.format(start="Dec 2", end="Dec 9"),
            status=status,
            idempotency_key=f"bench-{tag}-{now:%Y%m%d%H%M%S%f}-{i}",
            **approved,
        )
        for i in range(count)
    )


def _raw_send(message: Message) -> float:
    email = EmailMessage(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, [message.to])
    data = email.message().as_bytes()
    started = time.perf_counter()
    with smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=10) as smtp:
        smtp.sendmail(settings.DEFAULT_FROM_EMAIL, [message.to], data)
    return time.perf_counter() - started


def notify(ctx: Context) -> list[Result]:
    from packets.notify.messaging import approve_message, current_issues
    from packets.notify.tasks import send_message

    count, approvals = ctx.n(200, 10), ctx.n(40, 3)
    controller, _ = smtp_server()
    try:
        queued = _messages(count, status=Message.Status.QUEUED, tag="rate")
        issues = current_issues(queued[0])
        if issues:
            raise RuntimeError(f"the benchmark's message breaks the guidelines: {issues}")
        raw = [_raw_send(m) for m in queued]
        started = time.perf_counter()
        for message in queued:
            outcome = send_message(message.pk)
            if not outcome.startswith("sent"):
                raise RuntimeError(f"message {message.pk}: {outcome}")
        elapsed = time.perf_counter() - started
        results = [
            Result(
                "notify_per_s",
                count / elapsed,
                "/s",
                count / sum(raw),
                note=f"{count} approved emails through send_message, one worker, sequential",
                baseline_label="smtplib: the same emails, one connection each",
            )
        ]
        results.append(_approve_to_send(ctx, approvals, approve_message, raw))
    finally:
        controller.stop()
    return results


def _wait_sent(pk: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if Message.objects.filter(pk=pk, status=Message.Status.SENT).exists():
            return time.perf_counter()
        time.sleep(0.01)
    raise RuntimeError(f"message {pk} was not sent within {timeout:.0f}s (see the worker log)")


def _approve_to_send(ctx: Context, count: int, approve_message, raw: list[float]) -> Result:
    owner = get_user_model().objects.get(username="owner")
    _clear_queue()  # only this phase's tasks for the worker
    drafts = _messages(count + 1, status=Message.Status.DRAFT, tag="approve")
    latencies = []
    with WorkerCluster(ctx.child_env, ctx.log_dir / "qcluster.log"):
        approve_message(drafts[0].pk, owner)  # the cluster's start-up is not the owner's wait
        _wait_sent(drafts[0].pk, 120)
        for draft in drafts[1:]:
            started = time.perf_counter()
            approve_message(draft.pk, owner)
            latencies.append(_wait_sent(draft.pk, 60) - started)
    return Result(
        "approve_to_send_p95_s",
        percentile(latencies, 95),
        "s",
        percentile(raw, 95),
        target="< 5",
        note=(
            f"{count} approvals, each waited for; qcluster child ({settings.Q_CLUSTER['workers']} workers, "
            f"poll {settings.Q_CLUSTER['poll']}s); median {percentile(latencies, 50):.2f}s"
        ),
        baseline_label="p95 of one smtplib send of the same email",
    )
