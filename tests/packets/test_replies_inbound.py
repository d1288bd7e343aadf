"""Customer replies by email, through django-anymail's inbound webhooks, land on their case at once.

The posts are real HTTP requests to the live test server, in Postmark's inbound JSON shape with
anymail's basic auth. The worker's tasks (reading the reply, refreshing the packet) run in the
queue's sync mode, as a free worker would run them at once.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from anymail.inbound import AnymailInboundMessage
from django.urls import reverse

from packets.models import AuditEvent, Case, InboundMail, InboundMessage, Message
from packets.notify import replies
from packets.notify.reply_address import message_of, reply_address
from packets.notify.tasks import send_message
from tests.packets.reply_store import CUSTOMER_EMAIL, SENT_MESSAGE_ID, THREAT, reply_email, store_that_wrote

pytestmark = [pytest.mark.postgres]

SECRET = "desk:inbound-s3cret"
QUOTED = "On Mon, Dec 7, 2026 at 9:00 AM Shop <orders@shop.example.com> wrote:\n> We are glad to say it ships soon."


@pytest.fixture
def inbound_settings(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}
    settings.REPLY_DOMAIN = "replies.shop.example.com"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    return settings


def postmark_inbound(*, to: str, text: str = THREAT, stripped: str | None = THREAT, **extra) -> dict:
    """The body Postmark posts for an inbound email (its documented JSON fields)."""
    headers = [{"Name": "Return-Path", "Value": f"<{CUSTOMER_EMAIL}>"}]
    headers += [{"Name": name, "Value": value} for name, value in extra.pop("headers", {}).items()]
    body = {
        "FromName": "Marguerite Oduya",
        "From": CUSTOMER_EMAIL,
        "FromFull": {"Email": CUSTOMER_EMAIL, "Name": "Marguerite Oduya", "MailboxHash": ""},
        "To": to,
        "ToFull": [{"Email": to, "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "OriginalRecipient": to,
        "Subject": "Re: An update on your order",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "Date": "Mon, 7 Dec 2026 09:12:00 +0000",
        "TextBody": f"{text}\n\n{QUOTED}",
        "HtmlBody": "",
        "StrippedTextReply": stripped,
        "Tag": "",
        "Headers": headers,
        "Attachments": [],
    }
    body.update(extra)
    return body


def post(live_server, provider: str, body: dict, *, auth: str = SECRET) -> requests.Response:
    token = base64.b64encode(auth.encode()).decode()
    return requests.post(
        f"{live_server.url}/anymail/{provider}/inbound/",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        timeout=30,
    )


def wait_for(predicate, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("not there in time")


@pytest.mark.django_db(transaction=True)
def test_a_chargeback_reply_posted_by_postmark_lands_on_its_case_at_once(live_server, inbound_settings):
    store = store_that_wrote()
    case, sent = store["case"], store["sent"]
    started = time.monotonic()

    response = post(live_server, "postmark", postmark_inbound(to=reply_address(sent.pk)))

    assert response.status_code == 200, response.text
    inbound = wait_for(lambda: InboundMessage.objects.filter(case=case).first())
    assert time.monotonic() - started < 10
    assert inbound.body == THREAT  # Postmark's quote-free text, not our update it quoted
    assert {"chargeback", "callback_requested"} <= set(inbound.intents)
    assert inbound.escalated and inbound.order == store["order"] and inbound.customer == store["customer"]
    mail = InboundMail.objects.get()
    assert (mail.source, mail.status, mail.matched_by) == ("postmark", "matched", "reply_address")
    assert THREAT in AnymailInboundMessage.parse_raw_mime(mail.raw).text  # kept whole, for a replay
    case.refresh_from_db()
    assert case.risk_level == Case.Risk.CHARGEBACK_WATCH and case.latest_packet.version == 2
    draft = Message.objects.get(pk=store["draft"].pk)
    assert draft.status == "draft" and "only the owner approves" in draft.owner_reason
    assert send_message(store["queued"].pk) == "refused: automated replies paused"
    assert Message.objects.get(pk=store["queued"].pk).status == "failed"
    assert AuditEvent.objects.filter(action="customer.replied", case_id=case.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_post_without_the_webhook_secret_is_refused_and_stores_nothing(live_server, inbound_settings):
    store = store_that_wrote()
    body = postmark_inbound(to=reply_address(store["sent"].pk))

    refused = post(live_server, "postmark", body, auth="desk:wrong")
    assert refused.status_code == 401 and "basic auth" in refused.text
    assert not InboundMail.objects.exists()
    # a verified post with no sender and no words: kept, recognised as no person's reply, not scored
    assert post(live_server, "postmark", {"not": "postmark"}).status_code == 200
    assert InboundMail.objects.get().status == InboundMail.Status.AUTOMATED
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_each_provider_has_its_inbound_url_behind_the_basic_auth(live_server, inbound_settings):
    for provider in ("postmark", "mailgun", "sendgrid", "amazon_ses", "brevo"):
        assert post(live_server, provider, {}, auth="desk:wrong").status_code in {400, 401}, provider
    assert post(live_server, "mailjet-nope", {}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_provider_retry_of_the_same_email_keeps_one_reply(live_server, inbound_settings):
    store = store_that_wrote()
    body = postmark_inbound(to=reply_address(store["sent"].pk), headers={"Message-ID": "<once@mail.example.net>"})
    assert post(live_server, "postmark", body).status_code == 200
    assert post(live_server, "postmark", body).status_code == 200
    assert InboundMail.objects.count() == 1 and InboundMessage.objects.count() == 1


# --------------------------------------------------------------------------- matching, without HTTP


def _receive(email, settings) -> InboundMail:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    return replies.store("imap", AnymailInboundMessage.parse_raw_mime_bytes(email.as_bytes()))


@pytest.mark.django_db(transaction=True)
def test_a_reply_is_matched_by_in_reply_to_when_there_is_no_reply_address(settings):
    store = store_that_wrote()
    email = reply_email(to="orders@shop.example.com", In_Reply_To=SENT_MESSAGE_ID, References=SENT_MESSAGE_ID)
    mail = _receive(email, settings)
    mail.refresh_from_db()
    assert (mail.status, mail.matched_by, mail.case_id) == ("matched", "thread", store["case"].pk)
    assert mail.inbound.body == THREAT  # the quoted update cut by the quote stripper


@pytest.mark.django_db(transaction=True)
def test_a_reply_naming_nothing_of_ours_is_matched_by_the_customers_address(settings):
    store = store_that_wrote()
    mail = _receive(reply_email(to="orders@shop.example.com", sender=CUSTOMER_EMAIL.upper()), settings)
    mail.refresh_from_db()
    assert (mail.status, mail.matched_by, mail.case_id) == ("matched", "customer", store["case"].pk)


@pytest.mark.django_db(transaction=True)
def test_a_forged_reply_address_matches_nothing(settings):
    settings.REPLY_DOMAIN = "replies.shop.example.com"
    store = store_that_wrote()
    genuine = reply_address(store["sent"].pk)
    forged = genuine.replace(f"m{store['sent'].pk}.", f"m{store['sent'].pk + 1}.")
    assert message_of(genuine) == store["sent"].pk and message_of(genuine.upper()) == store["sent"].pk
    assert message_of(forged) is None
    mail = _receive(reply_email(to=forged, sender="stranger@example.org"), settings)
    mail.refresh_from_db()
    assert mail.status == "unmatched" and not InboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        (CUSTOMER_EMAIL, {"Auto-Submitted": "auto-replied"}),
        (CUSTOMER_EMAIL, {"X-Autoreply": "yes"}),
        (CUSTOMER_EMAIL, {"Precedence": "auto_reply"}),
        ("MAILER-DAEMON@mx.example.net", {}),
    ],
)
def test_auto_replies_and_bounces_are_kept_beside_the_case_and_not_scored(settings, sender, headers):
    store = store_that_wrote()
    email = reply_email(to="orders@shop.example.com", sender=sender, In_Reply_To=SENT_MESSAGE_ID, **headers)
    mail = _receive(email, settings)
    mail.refresh_from_db()
    assert mail.status == "automated" and mail.case_id == store["case"].pk and mail.note.startswith("Not scored")
    assert not InboundMessage.objects.exists()
    assert Case.objects.get(pk=store["case"].pk).risk_level != Case.Risk.CHARGEBACK_WATCH


# --------------------------------------------------------------------------- the unmatched replies page


@pytest.mark.django_db(transaction=True)
def test_staff_attach_an_unmatched_reply_and_the_case_reacts(settings, support, client, django_assert_num_queries):
    store = store_that_wrote()
    mail = _receive(reply_email(to="orders@shop.example.com", sender="m.oduya.work@example.org"), settings)
    mail.refresh_from_db()
    assert mail.status == "unmatched"
    client.force_login(support)
    # session, user, groups (role), the unmatched rows
    with django_assert_num_queries(4):
        page = client.get(reverse("packets:unmatched-replies"))
    text = page.content.decode()
    assert page.status_code == 200 and "disputing it with my bank, call me" in text and "wrote:" not in text

    refused = client.post(reverse("packets:reply-attach", args=[mail.pk]), {"case_id": "999999"})
    assert refused.status_code == 400 and "There is no case 999999" in refused.content.decode()
    bad = client.post(reverse("packets:reply-attach", args=[mail.pk]), {"case_id": "x"})
    assert bad.status_code == 400 and "Enter a whole number" in bad.content.decode()

    done = client.post(reverse("packets:reply-attach", args=[mail.pk]), {"case_id": store["case"].pk})
    assert done.status_code == 302
    mail.refresh_from_db()
    assert (mail.status, mail.matched_by, mail.case_id) == ("matched", "person", store["case"].pk)
    assert Case.objects.get(pk=store["case"].pk).risk_level == Case.Risk.CHARGEBACK_WATCH
    assert AuditEvent.objects.filter(action="customer.reply_attached", actor=support).exists()
    again = client.post(reverse("packets:reply-attach", args=[mail.pk]), {"case_id": store["case"].pk})
    assert again.status_code == 400 and InboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_the_unmatched_page_is_for_staff_only(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("packets:unmatched-replies")).status_code == 403
    assert client.post(reverse("packets:reply-attach", args=[1]), {"case_id": "1"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_same_email_posted_twice_at_once_is_kept_once(settings):
    """The other post's row is written but not yet committed when this one looks: this one's insert
    waits on it, then finds it."""
    import threading

    from django.db import connection, transaction

    email = AnymailInboundMessage.parse_raw_mime_bytes(
        reply_email(to="orders@shop.example.com", message_id="<race@mail.example.net>").as_bytes()
    )
    inserted, release = threading.Event(), threading.Event()

    def other_post():
        try:
            with transaction.atomic():
                InboundMail.objects.create(source="postmark", message_id="<race@mail.example.net>", raw="x")
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=other_post)
    other.start()
    assert inserted.wait(10)
    threading.Timer(0.5, release.set).start()  # the other post commits while this one waits on its insert

    mail = replies.store("postmark", email)

    other.join(10)
    assert InboundMail.objects.count() == 1 and mail.pk == InboundMail.objects.get().pk


@pytest.mark.django_db(transaction=True)
def test_mailgun_replies_are_checked_against_its_signing_key_too(settings, client):
    """Mailgun's raw-MIME inbound post (``inbound_mime/``), signed with the account's webhook
    signing key; a forged signature is refused even with the right basic auth."""
    import hashlib
    import hmac

    key = "mailgun-signing-key-1"
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET], "MAILGUN_WEBHOOK_SIGNING_KEY": key}
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    store = store_that_wrote()
    email = reply_email(to="orders@shop.example.com", In_Reply_To=SENT_MESSAGE_ID)
    timestamp, token = str(int(time.time())), "a" * 50
    good = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}
    form = {"body-mime": email.as_string(), "timestamp": timestamp, "token": token, "recipient": "orders@s.com"}

    forged = client.post("/anymail/mailgun/inbound_mime/", {**form, "signature": "0" * 64}, **auth)
    assert forged.status_code == 401 and "incorrect signature" in forged.content.decode()
    assert not InboundMail.objects.exists()

    signed = client.post("/anymail/mailgun/inbound_mime/", {**form, "signature": good}, **auth)
    assert signed.status_code == 200
    mail = InboundMail.objects.get()
    assert (mail.source, mail.status, mail.case_id) == ("mailgun", "matched", store["case"].pk)


@pytest.mark.django_db(transaction=True)
def test_a_stored_reply_whose_reading_was_never_queued_is_read_by_the_catch_up_schedule(settings):
    """The row is committed before its task is queued; when the broker lost the task, the
    ``replies.apply_received`` schedule reads it (a fresh one is left to its own task)."""
    from datetime import timedelta

    from django.utils import timezone

    store = store_that_wrote()
    email = reply_email(to="orders@shop.example.com", In_Reply_To=SENT_MESSAGE_ID)
    lost = InboundMail.objects.create(
        source="postmark",
        raw=email.as_string(),
        from_address=CUSTOMER_EMAIL,
        received_at=timezone.now() - timedelta(minutes=3),
    )
    fresh = InboundMail.objects.create(source="postmark", raw=email.as_string(), from_address=CUSTOMER_EMAIL)

    assert replies.apply_received() == 1

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert (lost.status, lost.case_id) == ("matched", store["case"].pk) and fresh.status == "received"
    assert replies.apply_received() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["postmark", "mailgun", "sendgrid", "amazon_ses", "brevo"])
@pytest.mark.parametrize(
    "body", [b"", b"{", b"[]", b"\xff\xfe", b'{"Type": 1}', b"null", b'{"FromFull": 3}', b'{"items": [1]}']
)
def test_it_never_answers_a_bad_inbound_body_with_5xx(settings, provider, body):
    from django.test import Client

    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET], "MAILGUN_WEBHOOK_SIGNING_KEY": "k"}
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    response = Client(raise_request_exception=False).post(
        f"/anymail/{provider}/inbound/", body, content_type="application/json", headers={"Authorization": auth}
    )
    assert response.status_code < 500, (provider, body, response.status_code, response.content[:200])
