"""Providers that time out, answer 5xx or stay down: messages are retried with backoff, never lost,
and a copy the provider may already hold is flagged rather than sent twice in silence.

Real servers on loopback speak each provider's protocol: aiosmtpd for email, the loopback HTTP
server answering as Twilio's Messages API and a Slack incoming webhook. A timeout is a server that
takes the request and answers after the client's read timeout (``NOTIFY_READ_TIMEOUT`` or
``EMAIL_TIMEOUT`` set to one second). Time is moved with time-machine through the retry schedule;
the scheduled ``retry_due_messages`` and the queue's own worker loop (``tests.task_queue``) do the
rest, as the cluster would.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from packets.models import AuditEvent, Message
from packets.notify.messaging import enqueue_send
from packets.notify.tasks import backoff_seconds, retry_due_messages, send_message
from tests.loopback import free_port, loopback_http, loopback_smtp  # noqa: F401
from tests.packets.test_notify_delivery import NOW, TWILIO_PATH, queued, slack, sms, twilio  # noqa: F401
from tests.task_queue import run_queued_tasks

pytestmark = pytest.mark.postgres


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition()


def retry_when_due(clock, message: Message) -> None:
    """Move the clock past the message's backoff, then run the scheduled retry and the queue."""
    message.refresh_from_db()
    clock.move_to(message.next_attempt_at + timedelta(seconds=1))
    assert retry_due_messages() == 1
    run_queued(clock)
    message.refresh_from_db()


def run_queued(clock) -> None:
    """The queue's worker loop on what is queued. The ORM broker hands a task out once its lock
    time (the enqueue time) has passed, so the stopped clock steps on a second first."""
    clock.shift(timedelta(seconds=1))
    [task] = run_queued_tasks()
    assert task["success"], task["result"]


# --------------------------------------------------------------------------- timeouts and 5xx


@pytest.mark.django_db(transaction=True)
def test_it_retries_email_after_a_mail_server_timeout_and_flags_the_second_copy(loopback_smtp, settings):  # noqa: F811
    settings.EMAIL_TIMEOUT = 1
    loopback_smtp.handler.delay = 2.5  # keeps the message, but answers after the client gave up
    with time_machine.travel(NOW, tick=False) as clock:
        message = queued()
        assert send_message(message.pk).startswith("retry at")
        message.refresh_from_db()
        assert (message.status, message.attempts, message.possible_duplicate) == ("queued", 1, True)
        assert message.next_attempt_at == NOW + timedelta(seconds=backoff_seconds(1))
        assert message.last_error.startswith("The mail server stopped answering")
        wait_for(lambda: len(loopback_smtp.messages) == 1)  # it did arrive

        loopback_smtp.handler.delay = 0
        retry_when_due(clock, message)

    assert (message.status, message.attempts, message.possible_duplicate) == ("sent", 2, True)
    first, second = loopback_smtp.messages
    assert first.message["Message-ID"] == second.message["Message-ID"] == message.provider_id
    summary = AuditEvent.objects.filter(action="message.queued", object_id=str(message.pk)).last().summary
    assert "flagged as a possible duplicate" in summary


@pytest.mark.django_db(transaction=True)
def test_it_retries_a_twilio_timeout_without_texting_the_customer_twice(twilio, settings):  # noqa: F811
    settings.NOTIFY_READ_TIMEOUT = 1
    twilio.answer(201, {"sid": "SMslow", "status": "queued"}, method="POST", delay=2.5)  # Twilio took it, slowly
    with time_machine.travel(NOW, tick=False) as clock:
        message = sms()
        assert send_message(message.pk).startswith("retry at")
        message.refresh_from_db()
        assert (message.status, message.possible_duplicate) == ("queued", True)
        assert message.last_error == "Twilio did not answer in time"

        # the retry asks Twilio first, finds the text it already holds, and adopts its sid
        twilio.answer(200, {"messages": [{"sid": "SMslow", "to": message.to, "body": message.body}]}, method="GET")
        retry_when_due(clock, message)

    assert (message.status, message.provider_id, message.attempts) == ("sent", "SMslow", 2)
    assert [(r.method, r.path) for r in twilio.requests] == [("POST", TWILIO_PATH), ("GET", TWILIO_PATH)]


@pytest.mark.django_db(transaction=True)
def test_it_retries_a_slack_timeout_and_flags_the_repeat(slack, settings):  # noqa: F811
    settings.NOTIFY_READ_TIMEOUT = 1
    slack.answer(200, "ok", delay=2.5)
    with time_machine.travel(NOW, tick=False) as clock:
        message = queued(channel="slack", audience="staff", to="slack", body="Order #1001: a parcel is stuck")
        send_message(message.pk)
        message.refresh_from_db()
        assert (message.status, message.possible_duplicate) == ("queued", True)
        retry_when_due(clock, message)  # Slack cannot be asked what it has: it is posted again, flagged
    assert (message.status, message.possible_duplicate) == ("sent", True)
    assert [r.json() for r in slack.requests] == [{"text": "Order #1001: a parcel is stuck"}] * 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("status", "error"), [(500, "Slack answered 500: oops"), (503, "Slack answered 503: oops")])
def test_it_retries_a_slack_5xx_with_backoff_and_sends_once(slack, status, error):  # noqa: F811
    slack.answer(status, "oops")
    slack.answer(status, "oops")
    with time_machine.travel(NOW, tick=False) as clock:
        message = queued(channel="slack", audience="staff", to="slack")
        send_message(message.pk)
        message.refresh_from_db()
        assert message.last_error == error and message.next_attempt_at == NOW + timedelta(seconds=60)
        retry_when_due(clock, message)
        assert message.status == "queued" and message.next_attempt_at == timezone.now() + timedelta(seconds=120)
        retry_when_due(clock, message)
    # a 5xx answer means Slack did not take it: retried, and not flagged
    assert (message.status, message.attempts, message.possible_duplicate) == ("sent", 3, False)
    assert len(slack.requests) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reply", ["451 4.3.0 Mail server temporarily rejected message", "421 4.3.2 Try later"])
def test_it_retries_email_the_mail_server_defers(loopback_smtp, reply):  # noqa: F811
    loopback_smtp.handler.reply = reply
    with time_machine.travel(NOW, tick=False) as clock:
        message = queued()
        send_message(message.pk)
        message.refresh_from_db()
        assert (message.status, message.possible_duplicate) == ("queued", False)
        assert message.last_error.startswith(f"The mail server answered {reply[:3]}")
        loopback_smtp.handler.reply = None
        retry_when_due(clock, message)
    assert message.status == "sent" and len(loopback_smtp.messages) == 1


# --------------------------------------------------------------------------- a provider down for an hour


class Provider:
    """One channel's loopback provider, switched down and back up."""

    def __init__(self, channel: str, request, settings):
        self.channel, self.settings = channel, settings
        if channel == "email":
            self.server = request.getfixturevalue("loopback_smtp")
        else:
            self.server = request.getfixturevalue("twilio" if channel == "sms" else "slack")
        self.requests_when_up = 0

    def message(self) -> Message:
        if self.channel == "email":
            return queued()
        if self.channel == "sms":
            return sms()
        return queued(channel="slack", audience="staff", to="slack")

    def down(self) -> None:
        if self.channel == "email":
            self.settings.EMAIL_PORT = free_port()  # nothing listens: connection refused
        else:
            self.server.set_default(503, "Service Unavailable")

    def up(self) -> None:
        if self.channel == "email":
            self.settings.EMAIL_PORT = self.server.port
        else:
            self.requests_when_up = len(self.server.requests)
            if self.channel == "sms":
                self.server.set_default(201, {"sid": "SMback"})
            else:
                self.server.set_default(200, "ok")

    def arrivals(self) -> int:
        if self.channel == "email":
            return len(self.server.messages)
        return len(self.server.requests) - self.requests_when_up


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel", ["email", "sms", "slack"])
def test_a_provider_down_for_an_hour_loses_nothing(channel, request, settings):
    """The default retry schedule (``NOTIFY_MAX_ATTEMPTS``, ``NOTIFY_RETRY_*``) outlasts an hour's outage."""
    provider = Provider(channel, request, settings)
    provider.down()
    back_at = NOW + timedelta(hours=1)
    tries: list[tuple] = []
    with time_machine.travel(NOW, tick=False) as clock:
        message = provider.message()
        enqueue_send(message.pk)
        run_queued(clock)
        message.refresh_from_db()
        while message.status == Message.Status.QUEUED:
            tries.append((message.attempts, message.next_attempt_at - timezone.now()))
            if message.next_attempt_at >= back_at:
                provider.up()
            retry_when_due(clock, message)
        sent_at = timezone.now()

    assert message.status == Message.Status.SENT, (message.status, message.last_error)
    assert provider.arrivals() == 1 and not message.possible_duplicate
    assert sent_at >= back_at
    # backoff: 60 s doubling, capped; never given up on during the hour
    assert [delay.total_seconds() for _, delay in tries] == [backoff_seconds(n) for n, _ in tries]
    assert message.attempts == len(tries) + 1 >= 7
    assert not AuditEvent.objects.filter(action="message.failed", object_id=str(message.pk)).exists()
