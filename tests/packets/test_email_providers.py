"""Email through a provider's API (django-anymail), and what the provider reports afterwards.

Postmark is a real HTTP server on loopback answering as Postmark's API reference shows
(``tests/packets/email_fakes.py``); its delivery, bounce and spam-complaint webhooks are posted
to our URL in the shapes Postmark documents, with HTTP basic auth as Postmark sends it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from packets.models import AuditEvent, Case, Message, OutboundDelivery, OutboundSubscription
from packets.notify.tasks import send_message
from tests import factories
from tests.packets.email_fakes import WEBHOOK_AUTH, bounce, delivery, postmark, spam_complaint  # noqa: F401

pytestmark = pytest.mark.django_db

URL = "/anymail/postmark/tracking/"
ROOT = Path(__file__).resolve().parents[2]


def queued_email(**fields) -> Message:
    case = fields.pop("case", None) or factories.CaseFactory()
    defaults = {"status": "queued", "approved_at": timezone.now(), "queued_at": timezone.now(), "order": case.order}
    return factories.MessageFactory(case=case, to="ada@example.com", **{**defaults, **fields})


def sent_through_postmark(postmark) -> Message:  # noqa: F811
    message = queued_email()
    assert send_message(message.pk).startswith("sent as ")
    message.refresh_from_db()
    return message


def post_event(client, payload: dict, auth: tuple[str, str] | None = WEBHOOK_AUTH):
    headers = {}
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    return client.post(URL, data=json.dumps(payload), content_type="application/json", **headers)


def test_it_sends_through_postmarks_api_and_keeps_postmarks_message_id(postmark, settings):  # noqa: F811
    message = queued_email(subject="An update on your order #1042")

    assert send_message(message.pk).startswith("sent as ")

    [sent] = postmark.sent
    assert (sent["To"], sent["Subject"]) == ("ada@example.com", "An update on your order #1042")
    message.refresh_from_db()  # its links were rendered afresh at sending: the record is what went out
    assert sent["TextBody"] == message.body and sent["From"] == settings.DEFAULT_FROM_EMAIL
    assert message.status == "sent" and message.provider_id == sent["MessageID"]
    assert message.delivery == ""


def test_it_fails_an_inactive_recipient_in_postmarks_words_and_retries_a_500(postmark):  # noqa: F811
    postmark.fail_next("inactive")
    refused = queued_email()
    assert send_message(refused.pk).startswith("failed: postmark refused the address")
    refused.refresh_from_db()
    assert refused.status == "failed" and "ada@example.com" in refused.last_error

    postmark.fail_next("500")
    later = queued_email()
    assert send_message(later.pk).startswith("retry at")
    later.refresh_from_db()
    assert later.status == "queued" and later.next_attempt_at is not None
    assert "postmark answered 500" in later.last_error and postmark.sent == []


def test_no_answer_after_postmark_took_the_message_retries_flagged_as_a_possible_duplicate(
    postmark,  # noqa: F811
    settings,
):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": (2, 0.5)}
    postmark.fail_next("slow")
    message = queued_email()

    assert send_message(message.pk).startswith("retry at")

    message.refresh_from_db()
    assert len(postmark.sent) == 1, "Postmark has it"
    assert message.status == "queued" and message.possible_duplicate
    assert "postmark did not answer in time" in message.last_error
    queued = AuditEvent.objects.filter(object_id=str(message.pk), action="message.queued").latest("pk")
    assert "may have it already, flagged as a possible duplicate" in queued.summary


def test_delivered_then_bounced_then_complained_each_recorded_and_the_owner_told(client, postmark):  # noqa: F811
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/cases", event_types=["case.updated"])
    message = sent_through_postmark(postmark)
    case = message.case

    assert post_event(client, delivery(message.provider_id, message.to)).status_code == 200
    message.refresh_from_db()
    assert message.delivery == "delivered" and message.delivery_at.isoformat() == "2026-11-18T15:01:02+00:00"
    case.refresh_from_db()
    assert case.status == "open", "a delivered message needs nobody"

    assert post_event(client, bounce(message.provider_id, message.to)).status_code == 200
    message.refresh_from_db()
    assert message.delivery == "bounced" and "<ada@example.com>: The email account" in message.delivery_detail
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_OWNER
    event = AuditEvent.objects.get(action="message.bounced")
    assert event.case == case and event.summary.startswith("Postmark: bounced: The server was unable to deliver")
    assert "ada@example.com" not in event.summary, "audit rows are never erased: no address in them"
    assert "<[address]>: The email account" in event.summary
    assert not AuditEvent.objects.filter(summary__contains="ada@example.com").exists()
    [update] = OutboundDelivery.objects.filter(event_type="case.updated")
    assert update.payload["data"]["changes"] == ["message", "status"]

    assert post_event(client, delivery(message.provider_id, message.to)).status_code == 200  # late, out of order
    message.refresh_from_db()
    assert message.delivery == "bounced", "a late delivered never hides the bounce"

    assert post_event(client, spam_complaint(message.provider_id, message.to)).status_code == 200
    message.refresh_from_db()
    assert message.delivery == "complained"
    assert AuditEvent.objects.filter(action="message.complained", case=case).count() == 1
    assert list(AuditEvent.objects.filter(case=case, action="case.status").values_list("data__new", flat=True)) == [
        "awaiting_owner"
    ]


def test_the_packet_page_shows_what_the_provider_reported(client, owner_client, postmark):  # noqa: F811
    message = sent_through_postmark(postmark)
    factories.PacketFactory(case=message.case)
    post_event(client, bounce(message.provider_id, message.to))

    page = owner_client.get(reverse("packets:case-detail", args=[message.case_id])).content.decode()

    assert "delivery-bounced" in page and "Bounced" in page
    assert "The email account that you tried to reach does not exist" in page
    assert "Bounced: An update on your order" in page  # the message timeline


@pytest.mark.parametrize(
    ("auth", "why"),
    [
        (None, "Missing or invalid basic auth"),
        (("postmark-hooks", "wrong"), "Missing or invalid basic auth"),
    ],
)
def test_a_post_without_the_webhook_secret_is_refused(client, postmark, auth, why):  # noqa: F811
    message = sent_through_postmark(postmark)
    response = post_event(client, bounce(message.provider_id, message.to), auth=auth)
    assert response.status_code == 401 and why in response.content.decode()
    message.refresh_from_db()
    assert message.delivery == ""


def test_every_post_is_refused_until_a_webhook_secret_is_set(client, postmark, settings):  # noqa: F811
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": []}
    response = post_event(client, delivery("anything", "ada@example.com"))
    assert response.status_code == 401 and "ANYMAIL_WEBHOOK_SECRET is not set" in response.content.decode()


def test_an_unknown_message_id_is_accepted_and_logged(client, postmark, caplog):  # noqa: F811
    with caplog.at_level(logging.WARNING, logger="packets.notify.email_tracking"):
        response = post_event(client, bounce("00000000-0000-0000-0000-000000000000", "who@example.com"))
    assert response.status_code == 200
    assert "which no message of ours has" in caplog.text
    assert not AuditEvent.objects.filter(action__startswith="message.").exists()


def test_an_unknown_provider_is_not_found_and_one_not_set_up_is_refused(client, postmark):  # noqa: F811
    assert client.post("/anymail/pigeon/tracking/", data="{}", content_type="application/json").status_code == 404
    response = client.post("/anymail/mailgun/tracking/", data="{}", content_type="application/json")
    assert response.status_code == 400 and "MAILGUN" in response.content.decode()


# --------------------------------------------------------------------------- choosing the provider


def settings_in_a_process(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "POSTMARK_", "MAILGUN_", "SENDGRID_"))}
    code = (
        "import json, config.settings as s; "
        "print(json.dumps([s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_USE_TLS, "
        "{k: v for k, v in s.ANYMAIL.items() if k != 'REQUESTS_TIMEOUT'}]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_email_provider_chooses_the_backend_and_reads_its_keys():
    smtp = settings_in_a_process({})
    assert json.loads(smtp.stdout)[0] == "django.core.mail.backends.smtp.EmailBackend"

    mailgun = settings_in_a_process(
        {"EMAIL_PROVIDER": "mailgun", "MAILGUN_API_KEY": "key-1", "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3"}
    )
    backend, *_, anymail = json.loads(mailgun.stdout)
    assert backend == "anymail.backends.mailgun.EmailBackend"
    assert anymail == {
        "WEBHOOK_SECRET": [],
        "MAILGUN_API_KEY": "key-1",
        "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3",
    }

    relay = settings_in_a_process({"EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": "SG.key"})
    assert json.loads(relay.stdout)[:5] == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.sendgrid.net",
        587,
        "apikey",
        True,
    ]

    missing = settings_in_a_process({"EMAIL_PROVIDER": "postmark"})
    assert missing.returncode != 0 and "EMAIL_PROVIDER=postmark needs POSTMARK_SERVER_TOKEN" in missing.stderr
    unknown = settings_in_a_process({"EMAIL_PROVIDER": "carrier-pigeon"})
    assert unknown.returncode != 0 and "EMAIL_PROVIDER must be one of smtp, sendgrid, postmark" in unknown.stderr
