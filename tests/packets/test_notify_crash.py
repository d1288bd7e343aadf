"""A worker killed mid-send: the message is never lost, and never sent twice without a flag.

The dead worker is simulated the only honest way a test can: its row is left exactly as the claim
leaves it (``sending``, ``sending_started_at``, one attempt) and the worker is gone. Then the queue
delivers the task again, or the reconcile schedule finds the row.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from packets.models import AuditEvent, Message
from packets.notify.reconcile import reconcile_stuck
from packets.notify.tasks import send_message
from tests import factories
from tests.loopback import loopback_http, loopback_smtp  # noqa: F401
from tests.task_queue import run_queued_tasks

pytestmark = pytest.mark.postgres


def left_sending_by_a_dead_worker(minutes_ago: float, **fields) -> Message:
    case = factories.CaseFactory()
    message = factories.MessageFactory(
        case=case,
        order=case.order,
        status="queued",
        approved_at=timezone.now() - timedelta(hours=1),
        queued_at=timezone.now() - timedelta(hours=1),
        **fields,
    )
    started = timezone.now() - timedelta(minutes=minutes_ago)
    Message.objects.filter(pk=message.pk).update(status="sending", sending_started_at=started, attempts=1)
    return message


@pytest.fixture
def twilio(loopback_http, settings):  # noqa: F811
    settings.TWILIO_API_BASE = loopback_http.url
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC0123456789", "twilio-secret"
    settings.TWILIO_FROM = "+15555550000"
    return loopback_http


@pytest.mark.django_db
def test_it_sends_again_when_the_queue_redelivers_after_a_crash(loopback_smtp):  # noqa: F811
    message = left_sending_by_a_dead_worker(minutes_ago=4)  # past the queue's 120 s timeout

    assert send_message(message.pk).startswith("sent as")

    message.refresh_from_db()
    assert message.status == "sent" and message.possible_duplicate and message.attempts == 2
    [mail] = loopback_smtp.messages
    assert mail.message["Message-ID"] == message.provider_id  # the same id on every attempt
    event = AuditEvent.objects.get(action="message.redelivered")
    assert event.case == message.case and "possible duplicate" in event.summary


@pytest.mark.django_db
def test_it_leaves_a_message_alone_while_another_worker_is_sending_it(loopback_smtp):  # noqa: F811
    message = left_sending_by_a_dead_worker(minutes_ago=0.5)
    assert send_message(message.pk) == "another worker is sending it now"
    message.refresh_from_db()
    assert message.status == "sending" and not message.possible_duplicate
    assert loopback_smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_it_requeues_a_stuck_message_and_the_worker_sends_it(loopback_smtp):  # noqa: F811
    stuck = left_sending_by_a_dead_worker(minutes_ago=10)  # past the queue's 180 s retry window
    recent = left_sending_by_a_dead_worker(minutes_ago=1)

    result = reconcile_stuck(timezone.now())

    assert result.requeued == [stuck.pk] and result.failed == []
    stuck.refresh_from_db()
    assert stuck.status == "queued" and stuck.possible_duplicate
    audit = AuditEvent.objects.get(action="message.queued", object_id=str(stuck.pk))
    assert audit.case_id == stuck.case_id and "Stuck in sending" in audit.summary
    [task] = run_queued_tasks()
    assert task["success"], task["result"]
    stuck.refresh_from_db()
    assert stuck.status == "sent" and stuck.possible_duplicate
    assert len(loopback_smtp.messages) == 1
    recent.refresh_from_db()
    assert recent.status == "sending"


@pytest.mark.django_db
def test_it_fails_a_stuck_message_that_used_its_attempts(settings):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    message = left_sending_by_a_dead_worker(minutes_ago=10)
    result = reconcile_stuck(timezone.now())
    assert result.failed == [message.pk]
    message.refresh_from_db()
    assert message.status == "failed" and message.possible_duplicate and "may have gone out" in message.last_error


@pytest.mark.django_db
def test_it_hands_a_queued_message_the_queue_lost_back_to_the_queue(django_capture_on_commit_callbacks):
    case = factories.CaseFactory()
    lost = factories.MessageFactory(
        case=case, status="queued", approved_at=timezone.now(), queued_at=timezone.now() - timedelta(minutes=30)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        result = reconcile_stuck()
    assert result.reenqueued == [lost.pk] and len(callbacks) == 1
    assert AuditEvent.objects.filter(action="message.reenqueued", case=case).exists()


@pytest.mark.django_db
def test_it_adopts_the_sms_twilio_already_has_instead_of_texting_twice(twilio):
    message = left_sending_by_a_dead_worker(minutes_ago=4, channel="sms", to="+15555550123", body="Order #1 update.")
    twilio.answer(
        200,
        {"messages": [{"sid": "SMold", "to": "+15555550123", "body": "Order #1 update.", "status": "delivered"}]},
        method="GET",
    )

    assert send_message(message.pk) == "sent earlier as SMold"

    [lookup] = twilio.requests
    assert lookup.method == "GET" and lookup.path == "/2010-04-01/Accounts/AC0123456789/Messages.json"
    assert lookup.query["To"] == ["+15555550123"] and "DateSent>" in lookup.query
    assert lookup.basic_auth() == ("AC0123456789", "twilio-secret")
    message.refresh_from_db()
    assert (message.status, message.provider_id, message.possible_duplicate) == ("sent", "SMold", True)


@pytest.mark.django_db
def test_it_texts_after_a_crash_when_twilio_never_got_the_sms(twilio):
    message = left_sending_by_a_dead_worker(minutes_ago=4, channel="sms", to="+15555550123", body="Order #1 update.")
    twilio.answer(200, {"messages": [{"sid": "SMx", "to": "+15555550123", "body": "Another text."}]}, method="GET")
    twilio.answer(201, {"sid": "SMnew"}, method="POST")
    send_message(message.pk)
    assert [request.method for request in twilio.requests] == ["GET", "POST"]
    message.refresh_from_db()
    assert (message.status, message.provider_id) == ("sent", "SMnew")


@pytest.mark.django_db(transaction=True)
def test_it_lets_only_one_of_two_racing_workers_send(loopback_smtp):  # noqa: F811
    case = factories.CaseFactory()
    message = factories.MessageFactory(case=case, status="queued", approved_at=timezone.now())
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(send_message(message.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(loopback_smtp.messages) == 1
    assert sum(outcome.startswith("sent as") for outcome in outcomes) == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 1 and not message.possible_duplicate
