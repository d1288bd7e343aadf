"""What makes a reply findable: every email we send names the signed reply address and keeps its
Message-ID; what a reply is: the customer's own words, or an automated answer; and the queue shows
when the customer last wrote."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from packets.models import Message
from packets.notify.reply_address import message_of
from packets.notify.tasks import send_message
from packets.rules.replies import automated_reason, message_ids, strip_quoted
from tests import factories
from tests.loopback import loopback_smtp  # noqa: F401

pytestmark = [pytest.mark.postgres]


@pytest.mark.django_db
def test_every_email_we_send_names_its_signed_reply_address_and_keeps_its_message_id(
    loopback_smtp,  # noqa: F811
    settings,
):
    settings.REPLY_DOMAIN = "replies.shop.example.com"
    case = factories.CaseFactory()
    message = factories.MessageFactory(
        case=case, order=case.order, status="queued", approved_at=timezone.now(), queued_at=timezone.now()
    )

    assert send_message(message.pk).startswith("sent as")

    [mail] = loopback_smtp.messages
    message.refresh_from_db()
    assert message.email_message_id == mail.message["Message-ID"] != ""
    assert message_of(mail.message["Reply-To"]) == message.pk
    assert mail.message["Reply-To"].endswith("@replies.shop.example.com")


@pytest.mark.django_db
def test_without_a_reply_domain_replies_go_to_the_sender_address(loopback_smtp, settings):  # noqa: F811
    settings.REPLY_DOMAIN = ""
    message = factories.MessageFactory(status="queued", approved_at=timezone.now(), queued_at=timezone.now())
    send_message(message.pk)
    [mail] = loopback_smtp.messages
    assert mail.message["Reply-To"] is None
    assert Message.objects.get(pk=message.pk).email_message_id == mail.message["Message-ID"]


@pytest.mark.django_db
def test_the_queue_shows_when_the_customer_last_wrote(owner_client):
    quiet = factories.CaseFactory(title="Quiet order")
    wrote = factories.CaseFactory(title="Order with a reply")
    factories.InboundMessageFactory(case=wrote, received_at=timezone.now() - timedelta(minutes=50))
    factories.InboundMessageFactory(case=wrote, received_at=timezone.now() - timedelta(minutes=7))

    page = owner_client.get(reverse("packets:case-list")).content.decode()

    assert page.count("data-customer-wrote") == 1 and "customer wrote 7 min ago" in page
    assert quiet.title in page


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Where is it?\n\nOn Mon, Dec 7, 2026 at 9:00 AM Shop <o@s.com> wrote:\n> It ships soon.", "Where is it?"),
        ("Cancel it please\n> quoted line\nthanks", "Cancel it please\nthanks"),
        ("Call me\n\n-----Original Message-----\nFrom: Shop\nrefund", "Call me"),
        ("No hurry.\n-- \nMarguerite\n+1 555 0100", "No hurry."),
        ("Hi\n\nFrom: Shop <o@s.com>\nSent: Monday\nSubject: scam", "Hi"),
    ],
)
def test_it_keeps_only_the_customers_own_words(text, words):
    assert strip_quoted(text) == words


@pytest.mark.parametrize(
    ("headers", "sender", "automated"),
    [
        ([("Auto-Submitted", "auto-replied")], "a@b.com", True),
        ([("Auto-Submitted", "auto-generated")], "a@b.com", True),
        ([("Auto-Submitted", "no")], "a@b.com", False),
        ([("X-Autoreply", "yes")], "a@b.com", True),
        ([("Precedence", "bulk")], "a@b.com", True),
        ([("Precedence", "auto_reply")], "a@b.com", True),
        ([("Return-Path", "<>")], "a@b.com", True),
        ([], "MAILER-DAEMON@mx.example.net", True),
        ([], "", True),
        ([("Subject", "Re: your order")], "a@b.com", False),
    ],
)
def test_it_recognises_auto_replies_and_bounces(headers, sender, automated):
    assert bool(automated_reason(headers, sender)) is automated


def test_it_reads_the_message_ids_a_reply_names():
    assert message_ids("<a@x>", "<b@x> <a@x>\n <c@y>", None) == ["<a@x>", "<b@x>", "<c@y>"]


def test_it_refuses_to_start_with_a_bad_reply_domain_or_mailbox_address():
    from tests.test_settings import _start

    assert "REPLY_DOMAIN must be a domain" in _start({"DEBUG": "true", "REPLY_DOMAIN": "replies@shop"}).stderr
    assert "IMAP_URL must be imaps://" in _start({"DEBUG": "true", "IMAP_URL": "pop3://u:p@mail.example.com"}).stderr
    assert "IMAP_URL must be imaps://" in _start({"DEBUG": "true", "IMAP_URL": "imaps://mail.example.com/INBOX"}).stderr
    plain = _start({"DEBUG": "true", "IMAP_URL": "imap://u:p@mail.example.com/INBOX"})
    assert "only for a server on this machine" in plain.stderr
    good = {
        "DEBUG": "true",
        "REPLY_DOMAIN": "Replies.Shop.example.com",
        "IMAP_URL": "imaps://u%40s:p@mail.example.com/",
    }
    assert _start(good).returncode == 0


def test_mailgun_replies_are_verified_even_when_mail_goes_out_over_smtp():
    import os
    import subprocess
    import sys

    from tests.test_settings import ROOT

    code = "from config import settings as s; print(s.ANYMAIL.get('MAILGUN_WEBHOOK_SIGNING_KEY'))"
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(DEBUG="true", EMAIL_PROVIDER="smtp", MAILGUN_WEBHOOK_SIGNING_KEY="mg-key-2")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "mg-key-2", out.stderr
