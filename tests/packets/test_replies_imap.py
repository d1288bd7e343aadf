"""Customer replies from a plain mailbox: ``manage.py fetch_replies`` reads a real IMAP server (dovecot,
started by the test on a loopback port) and each reply lands on its case at once.

The mail is put in the mailbox with IMAP APPEND, as the store's mail server would deliver it. The
worker's tasks run in the queue's sync mode, as a free worker would run them at once.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from imap_tools import AND, MailBoxUnencrypted

from packets.models import Case, InboundMail, InboundMessage, Message
from packets.notify.imap import fetch_replies
from packets.notify.reply_address import reply_address
from packets.notify.tasks import send_message
from tests.packets.dovecot import dovecot  # noqa: F401  (fixture)
from tests.packets.reply_store import SENT_MESSAGE_ID, THREAT, reply_email, store_that_wrote

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mailbox_settings(settings, dovecot):  # noqa: F811
    settings.IMAP_URL = dovecot.url
    settings.REPLY_DOMAIN = "replies.shop.example.com"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    return settings


def deliver(server, *emails) -> None:
    with MailBoxUnencrypted(server.host, server.port).login(server.user, server.password) as box:
        for email in emails:
            box.append(email.as_bytes(), "INBOX")


def unseen(server) -> int:
    with MailBoxUnencrypted(server.host, server.port).login(server.user, server.password) as box:
        return len(list(box.fetch(AND(seen=False), mark_seen=False)))


def test_a_chargeback_reply_in_the_mailbox_lands_on_its_case_at_once(mailbox_settings, dovecot):  # noqa: F811
    store = store_that_wrote()
    case = store["case"]
    deliver(dovecot, reply_email(to=reply_address(store["sent"].pk)))

    out = io.StringIO()
    call_command("fetch_replies", stdout=out)

    assert "1 email(s) read, 1 new" in out.getvalue()
    inbound = InboundMessage.objects.get(case=case)
    assert inbound.body == THREAT  # the quoted update cut before scoring
    assert {"chargeback", "callback_requested"} <= set(inbound.intents)
    mail = InboundMail.objects.get()
    assert (mail.source, mail.status, mail.matched_by) == ("imap", "matched", "reply_address")
    case.refresh_from_db()
    assert case.risk_level == Case.Risk.CHARGEBACK_WATCH and case.latest_packet.version == 2
    assert "only the owner approves" in Message.objects.get(pk=store["draft"].pk).owner_reason
    assert send_message(store["queued"].pk) == "refused: automated replies paused"
    assert unseen(dovecot) == 0  # marked seen once stored


def test_a_second_run_reads_nothing_new_and_a_mailbox_read_twice_keeps_one_copy(
    mailbox_settings,
    dovecot,  # noqa: F811
):
    store_that_wrote()
    first = reply_email(to="orders@shop.example.com", In_Reply_To=SENT_MESSAGE_ID, message_id="<a@mail.example.net>")
    deliver(dovecot, first)
    assert fetch_replies() == "1 email(s) read, 1 new"
    assert fetch_replies() == "0 email(s) read, 0 new"
    deliver(dovecot, first)  # the same email again (a mail server delivering twice)
    assert fetch_replies() == "1 email(s) read, 0 new"
    assert InboundMail.objects.count() == 1 and InboundMessage.objects.count() == 1


def test_an_out_of_office_in_the_mailbox_is_not_scored(mailbox_settings, dovecot):  # noqa: F811
    store = store_that_wrote()
    deliver(
        dovecot,
        reply_email(
            to="orders@shop.example.com",
            body="I am out of the office until Monday. This is a scam filter test.",
            In_Reply_To=SENT_MESSAGE_ID,
            Auto_Submitted="auto-replied",
        ),
    )
    fetch_replies()
    mail = InboundMail.objects.get()
    assert mail.status == "automated" and mail.case_id == store["case"].pk
    assert not InboundMessage.objects.exists()


def test_without_imap_url_there_is_nothing_to_read(settings):
    settings.IMAP_URL = ""
    assert fetch_replies() == "IMAP_URL is not set: no mailbox to read"
