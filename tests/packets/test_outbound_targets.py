"""Outbound subscriptions: the signing secret is shown once, and events never go to this server's
own network (loopback, private, link-local) unless ``OUTBOUND_ALLOW_PRIVATE_TARGETS`` allows it.

Names are resolved for real (``localhost`` through the system resolver); public targets are IP
literals, since this machine has no outside DNS. The receiver is a real HTTP server on loopback.
"""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from packets.integrations.outbound import deliver, emit
from packets.integrations.targets import target_problem
from packets.models import OutboundDelivery, OutboundSubscription
from tests.loopback import loopback_http  # noqa: F401

pytestmark = pytest.mark.django_db

REFUSED = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT: not a public address
    "ftp://93.184.216.34/hook",
]


@pytest.fixture
def strict(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    return settings


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def add_form(url: str) -> dict:
    return {"url": url, "description": "Zapier", "event_types": "[]", "active": "on"}


@pytest.mark.parametrize("url", REFUSED)
def test_it_refuses_a_private_loopback_or_link_local_target_when_saved(strict, admin_client, url):
    response = admin_client.post("/admin/packets/outboundsubscription/add/", add_form(url))
    assert response.status_code == 200  # the form again, with the error
    assert "Events cannot be sent there" in response.content.decode()
    assert not OutboundSubscription.objects.exists()
    with pytest.raises(ValidationError):
        OutboundSubscription(url=url).full_clean()


def test_it_accepts_a_public_address(strict):
    assert target_problem("https://93.184.216.34/hooks/catch") == ""
    OutboundSubscription(url="https://93.184.216.34/hooks/catch").full_clean()


def test_it_allows_private_targets_when_the_setting_says_so(strict):
    strict.OUTBOUND_ALLOW_PRIVATE_TARGETS = True
    assert target_problem("http://127.0.0.1:8000/hook") == ""


def test_it_checks_the_target_again_before_each_send(strict, loopback_http):  # noqa: F811
    # saved while allowed (or pointed at a public name that later resolved to loopback)
    subscription = OutboundSubscription.objects.create(url=loopback_http.url + "/hook")
    [delivery] = emit("case.opened", {"id": 1})

    outcome = deliver(delivery.pk)

    assert outcome.startswith("failed: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
    assert loopback_http.requests == []
    delivery.refresh_from_db()
    subscription.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.FAILED and "Not sent to" in delivery.error
    assert "loopback" in subscription.last_error

    strict.OUTBOUND_ALLOW_PRIVATE_TARGETS = True
    [again] = emit("case.opened", {"id": 2})
    assert deliver(again.pk) == "delivered (200)"
    assert len(loopback_http.requests) == 1


def test_it_shows_the_signing_secret_once_then_only_its_last_four_characters(admin_client):
    response = admin_client.post(
        "/admin/packets/outboundsubscription/add/", add_form("http://127.0.0.1:9/hook"), follow=True
    )
    subscription = OutboundSubscription.objects.get()
    page = response.content.decode()
    assert page.count(subscription.secret) == 1 and "it is not shown again" in page

    change = admin_client.get(f"/admin/packets/outboundsubscription/{subscription.pk}/change/").content.decode()
    assert subscription.secret not in change
    assert f"whsec_…{subscription.secret[-4:]}" in change
    assert 'name="secret"' not in change  # no field carries it back either
    listing = admin_client.get("/admin/packets/outboundsubscription/").content.decode()
    assert subscription.secret not in listing


def test_it_generates_a_new_secret_and_shows_it_once(admin_client):
    subscription = OutboundSubscription.objects.create(url="http://127.0.0.1:9/hook")
    old = subscription.secret
    response = admin_client.post(
        "/admin/packets/outboundsubscription/",
        {"action": "new_secret", "_selected_action": [subscription.pk]},
        follow=True,
    )
    subscription.refresh_from_db()
    assert subscription.secret != old and subscription.secret.startswith("whsec_")
    page = response.content.decode()
    assert page.count(subscription.secret) == 1 and old not in page
    assert re.search(r"Signing secret for http://127\.0\.0\.1:9/hook: whsec_", page)
