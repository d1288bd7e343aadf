"""Delivery: approved messages reach real servers on loopback, in the providers' formats, with
retries for what may pass and a clear failure for what will not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from packets.models import AuditEvent, Message
from packets.notify.messaging import approve_message, queue_staff_alert
from packets.notify.tasks import retry_due_messages, send_message
from tests import factories
from tests.loopback import free_port, loopback_http, loopback_smtp  # noqa: F401
from tests.task_queue import queued_task_names, run_queued_tasks

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
TWILIO_PATH = "/2010-04-01/Accounts/AC0123456789/Messages.json"


@pytest.fixture
def twilio(loopback_http, settings):  # noqa: F811
    settings.TWILIO_API_BASE = loopback_http.url
    settings.TWILIO_ACCOUNT_SID = "AC0123456789"
    settings.TWILIO_AUTH_TOKEN = "twilio-secret"
    settings.TWILIO_FROM = "+15555550000"
    return loopback_http


@pytest.fixture
def slack(loopback_http, settings):  # noqa: F811
    settings.SLACK_WEBHOOK_URL = f"{loopback_http.url}/services/T000/B000/XXXX"
    return loopback_http


def queued(**fields) -> Message:
    case = fields.pop("case", None) or factories.CaseFactory()
    defaults = {"status": "queued", "approved_at": timezone.now(), "queued_at": timezone.now(), "order": case.order}
    return factories.MessageFactory(case=case, **{**defaults, **fields})


def sms(**fields) -> Message:
    return queued(channel="sms", to="+15555550123", body="Your order #1001 is on backorder.", **fields)


@pytest.mark.django_db(transaction=True)
def test_it_delivers_an_approved_update_through_the_worker(support, loopback_smtp, policy):  # noqa: F811
    from packets.notify.cadence import draft_due_messages

    line = factories.OrderLineFactory(state="backordered", backordered_at=timezone.now())
    draft_due_messages()
    draft = Message.objects.get(order_line=line)

    approve_message(draft.pk, support)  # commits, then enqueues on the ORM broker

    assert queued_task_names() == ["packets.notify.tasks.send_message"]
    [task] = run_queued_tasks()
    assert task["success"], task["result"]
    draft.refresh_from_db()
    assert draft.status == "sent" and draft.sent_at is not None
    assert draft.provider_id == f"<cadence.{line.pk}.confirmation@localhost>"
    [mail] = loopback_smtp.messages
    assert mail.rcpt_tos == [line.order.customer.email]
    assert mail.message["Message-ID"] == draft.provider_id
    assert mail.message["X-Idempotency-Key"] == f"cadence:{line.pk}:confirmation"
    assert mail.message["Subject"] == f"Order {line.order.number}: one item is on backorder"
    assert "is on backorder" in mail.body and "/o/" in mail.body
    actions = list(
        AuditEvent.objects.filter(object_id=str(draft.pk)).order_by("at", "id").values_list("action", flat=True)
    )
    assert actions == ["message.approved", "message.queued", "message.sending", "message.sent"]


@pytest.mark.django_db
def test_it_sends_sms_in_twilios_format(twilio):
    twilio.answer(201, {"sid": "SM0f3e8f1e2d", "status": "queued"})
    message = sms()
    send_message(message.pk)
    [request] = twilio.requests
    assert (request.method, request.path) == ("POST", TWILIO_PATH)
    assert request.form() == {"To": "+15555550123", "From": "+15555550000", "Body": message.body}
    assert request.basic_auth() == ("AC0123456789", "twilio-secret")
    assert request.headers["idempotency-key"] == message.idempotency_key
    message.refresh_from_db()
    assert (message.status, message.provider_id, message.attempts) == ("sent", "SM0f3e8f1e2d", 1)


@pytest.mark.django_db
def test_it_posts_staff_alerts_to_the_slack_webhook(slack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        alert = queue_staff_alert("Order #1001: the customer asked to cancel", key="cancel:1001")
        assert queue_staff_alert("Order #1001: the customer asked to cancel", key="cancel:1001") is None
    assert len(callbacks) == 1
    send_message(alert.pk)
    [request] = slack.requests
    assert request.path == "/services/T000/B000/XXXX"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"text": "Order #1001: the customer asked to cancel"}
    alert.refresh_from_db()
    assert alert.status == "sent" and alert.audience == "staff" and alert.provider_id == "slack:staff:cancel:1001"


@pytest.mark.django_db
def test_it_retries_a_5xx_with_backoff_and_sends_when_due(twilio, django_capture_on_commit_callbacks):
    twilio.answer(500, "upstream trouble")
    twilio.answer(201, {"sid": "SM2"})
    with time_machine.travel(NOW, tick=False) as clock:
        message = sms()
        assert send_message(message.pk).startswith("retry at")
        message.refresh_from_db()
        assert message.status == "queued" and message.attempts == 1
        assert message.next_attempt_at == NOW + timedelta(seconds=60)
        assert message.last_error == "Twilio answered 500: upstream trouble"

        assert send_message(message.pk) == "nothing to do: the message is queued"  # not due yet
        assert retry_due_messages() == 0
        clock.shift(timedelta(seconds=61))
        with django_capture_on_commit_callbacks() as callbacks:
            assert retry_due_messages() == 1
        assert len(callbacks) == 1
        send_message(message.pk)
    message.refresh_from_db()
    assert (message.status, message.provider_id, message.attempts, message.last_error) == ("sent", "SM2", 2, "")
    assert len(twilio.requests) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("retry_after", "expected_delay"),
    [("300", 300), ("5", 60), ("Mon, 02 Mar 2026 14:10:00 GMT", 600), (None, 60)],
)
def test_it_honours_retry_after_on_429(slack, retry_after, expected_delay):
    slack.answer(429, "rate_limited", {"Retry-After": retry_after} if retry_after else {})
    with time_machine.travel(NOW, tick=False):
        message = queued(channel="slack", audience="staff", to="slack")
        send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "queued"
    assert message.next_attempt_at == NOW + timedelta(seconds=expected_delay)


@pytest.mark.django_db
def test_it_fails_a_permanent_4xx_with_the_error_on_the_case(twilio):
    twilio.answer(400, {"code": 21211, "message": "The 'To' number is not a valid phone number."})
    message = sms()
    assert send_message(message.pk).startswith("failed")
    message.refresh_from_db()
    assert message.status == "failed"
    assert "Twilio answered 400" in message.last_error and "not a valid phone number" in message.last_error
    event = AuditEvent.objects.get(action="message.failed")
    assert event.case == message.case and "not a valid phone number" in event.summary
    assert send_message(message.pk) == "nothing to do: the message is failed"
    assert len(twilio.requests) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [404, 410])
def test_it_fails_when_the_slack_hook_is_gone(slack, status):
    slack.answer(status, "no_service")
    message = queued(channel="slack", audience="staff", to="slack")
    send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "failed" and f"Slack answered {status}" in message.last_error


@pytest.mark.django_db
def test_it_gives_up_after_the_last_attempt(twilio, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    twilio.set_default(503, "busy")
    with time_machine.travel(NOW, tick=False) as clock:
        message = sms()
        send_message(message.pk)
        clock.shift(timedelta(minutes=2))
        send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 2
    assert message.last_error == "Gave up after 2 attempts. Last error: Twilio answered 503: busy"


@pytest.mark.django_db
def test_it_retries_when_the_sms_provider_cannot_be_reached(settings):
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM = "AC1", "t", "+15555550000"
    message = sms()
    send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "queued" and message.last_error == "Could not reach Twilio: ConnectionError"


@pytest.mark.django_db
def test_it_fails_sms_when_twilio_is_not_configured(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    message = sms()
    send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "failed" and "TWILIO_ACCOUNT_SID" in message.last_error


@pytest.mark.django_db
def test_it_retries_email_when_the_mail_server_is_down(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    message = queued()
    send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "queued" and message.last_error.startswith("Could not reach the mail server")


@pytest.mark.django_db
def test_it_fails_email_the_mail_server_refuses(loopback_smtp):  # noqa: F811
    loopback_smtp.handler.reply = "550 5.1.1 Mailbox does not exist"
    message = queued()
    send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "failed" and "550" in message.last_error
    assert loopback_smtp.messages == []


@pytest.mark.django_db
def test_it_refuses_to_send_a_message_that_breaks_the_guidelines(loopback_smtp):  # noqa: F811
    message = queued(body="We apologize for the inconvenience. It ships on March 9.")
    assert send_message(message.pk) == "refused: guideline issues"
    message.refresh_from_db()
    assert message.status == "failed" and message.last_error.startswith("Refused to send")
    assert "forbidden phrase" in message.last_error and "one exact date" in message.last_error
    assert loopback_smtp.messages == []


@pytest.mark.django_db
def test_it_sends_each_message_once_however_often_the_task_runs(loopback_smtp):  # noqa: F811
    message = queued()
    assert send_message(message.pk).startswith("sent as")
    assert send_message(message.pk) == "nothing to do: the message is sent"
    assert len(loopback_smtp.messages) == 1
    assert json.loads(json.dumps(loopback_smtp.messages[0].rcpt_tos)) == ["customer@example.com"]


@pytest.mark.django_db
def test_it_pauses_an_automatically_approved_reply_when_the_case_went_on_chargeback_watch(loopback_smtp):  # noqa: F811
    case = factories.CaseFactory(risk_level="chargeback_watch")
    automatic = queued(case=case, standing_approval=True)
    by_a_person = queued(case=case)

    assert send_message(automatic.pk) == "refused: automated replies paused"
    assert send_message(by_a_person.pk).startswith("sent as ")

    automatic.refresh_from_db()
    assert automatic.status == "failed" and "automated replies are paused" in automatic.last_error
    assert len(loopback_smtp.messages) == 1
