"""Hostile request shapes that once crashed the desk: each now gets a clear 4xx, never a 500.

Posted with a client that checks CSRF like a browser and re-raises nothing (as gunicorn would
answer): form bodies in UTF-7 or Latin-1, multipart bodies without a boundary (any URL,
anonymous), bad bodies to every email provider's tracking webhook, ``next=foo`` after the bulk
and assign actions, signed JSON nested 1,000 deep, a NUL in an admin changelist filter.
"""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from backorders.models import WebhookDelivery
from packets.models import Case, Message
from packets.notify.email_tracking import TRACKING_VIEWS
from tests import factories
from tests.backorders.signed import configure, send
from tests.packets.packet_content import case_with_packet

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

FORM_SHAPES = [
    "application/x-www-form-urlencoded; charset=utf-7",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=no-such-charset",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=" + "x" * 300,
]
ANY_URLS = ["/accounts/login/", "/cases/", "/cases/bulk/", "/webhooks/shopify/", "/o/some-token/", "/nowhere/"]


@pytest.fixture
def browser():
    """An anonymous visitor whose client checks CSRF and answers errors the way a server would."""
    visitor = Client(enforce_csrf_checks=True, raise_request_exception=False)
    visitor.get("/accounts/login/")
    return visitor


@pytest.mark.parametrize("content_type", FORM_SHAPES)
@pytest.mark.parametrize("url", ANY_URLS)
def test_it_refuses_an_unreadable_form_body_with_400(browser, url, content_type):
    token = browser.cookies["csrftoken"].value
    body = f"csrfmiddlewaretoken={token}&username=a+AGE-&password=%E9".encode()
    response = browser.generic("POST", url, body, content_type=content_type)
    assert response.status_code == 400, (url, content_type, response.status_code)
    assert response.content.startswith(b"Bad request: ")


def test_it_still_reads_a_utf8_form_and_a_well_formed_multipart_body(browser, owner):
    token = browser.cookies["csrftoken"].value
    login = browser.post("/accounts/login/", {"csrfmiddlewaretoken": token, "username": "olivia", "password": "x"})
    assert login.status_code == 200 and "Please enter a correct username" in login.content.decode()
    form = browser.generic(
        "POST",
        "/accounts/login/",
        f"csrfmiddlewaretoken={token}&username=olivia&password=x".encode(),
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
    )
    assert form.status_code == 200


@pytest.mark.parametrize("provider", sorted(TRACKING_VIEWS))
@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff\xfe", b'{"Type": 1}', b"null"])
def test_it_never_answers_a_bad_email_tracking_body_with_5xx(settings, provider, body):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": ["hook:secret"]}
    visitor = Client(raise_request_exception=False)
    auth = "Basic " + base64.b64encode(b"hook:secret").decode()
    response = visitor.post(
        f"/anymail/{provider}/tracking/", body, content_type="application/json", headers={"Authorization": auth}
    )
    assert response.status_code < 500, (provider, body, response.status_code, response.content[:200])


def test_it_answers_a_malformed_amazon_ses_post_with_400(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": ["hook:secret"]}
    auth = "Basic " + base64.b64encode(b"hook:secret").decode()
    response = Client(raise_request_exception=False).post(
        "/anymail/amazon_ses/tracking/", b"{", content_type="text/plain", headers={"Authorization": auth}
    )
    assert response.status_code == 400
    assert b"not a amazon_ses event" in response.content


@pytest.mark.parametrize("target", ["foo", "//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_it_redirects_safely_after_bulk_assign_and_draft_approve_whatever_next_says(owner_client, support, target):
    owner_client.raise_request_exception = False
    first, _ = case_with_packet()
    second, _ = case_with_packet()

    bulk = owner_client.post(
        "/cases/bulk/", {"case_ids": [first.pk], "operation": "assign", "assignee": support.pk, "next": target}
    )
    assert bulk.status_code == 302 and bulk["Location"] == "/cases/"
    assert Case.objects.get(pk=first.pk).assignee == support

    assign = owner_client.post(f"/cases/{second.pk}/assign/", {"assignee": support.pk, "next": target})
    assert assign.status_code == 302 and assign["Location"] == f"/cases/{second.pk}/"

    draft = factories.MessageFactory(case=first, step="update_48h", subject="48h update")
    approve = owner_client.post("/cases/drafts/approve/", {"message_ids": [draft.pk], "next": target})
    assert approve.status_code == 302 and approve["Location"] == "/cases/drafts/"
    assert Message.objects.get(pk=draft.pk).status != Message.Status.DRAFT


def test_it_still_follows_a_next_path_on_this_site(owner_client, support):
    case, _ = case_with_packet()
    response = owner_client.post(f"/cases/{case.pk}/assign/", {"assignee": support.pk, "next": "/cases/?mine=1"})
    assert response["Location"] == "/cases/?mine=1"


@pytest.mark.parametrize("source", ["generic", "shopify", "woocommerce", "aftership", "easypost", "shippo"])
def test_it_keeps_signed_json_nested_1000_deep_as_rejected_with_the_reason(settings, source):
    configure(settings)
    deep = b'{"type":"order","timestamp":"2026-03-01T10:05:00Z","data":' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = send(Client(raise_request_exception=False), source, deep)
    assert response.status_code == 400, response.content
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.REJECTED
    assert delivery.signature_valid and "nested too deeply" in delivery.error


@pytest.mark.parametrize(
    "query", ["topic=a%00b", "source__exact=%00", "q=%00", "status__exact=rejected&topic__exact=x%00"]
)
def test_it_refuses_a_nul_in_an_admin_changelist_filter(client, django_user_model, query):
    client.raise_request_exception = False
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.get(f"/admin/backorders/webhookdelivery/?{query}")
    assert response.status_code == 400
    assert b"NUL" in response.content
    assert client.get("/admin/backorders/webhookdelivery/?topic=ok").status_code == 200


def test_it_refuses_a_nul_in_the_queue_filters(owner_client):
    owner_client.raise_request_exception = False
    assert owner_client.get("/cases/?q=a%00b").status_code == 400
