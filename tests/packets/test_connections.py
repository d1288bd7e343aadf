"""The owner's Connections page: configured or not, last worked, last error, and a test button.

Shopify is the loopback stand-in; Slack and Twilio are loopback HTTP servers answering as their
documentation shows.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from packets.models import AuditEvent, OutboundSubscription
from tests import factories
from tests.loopback import loopback_http  # noqa: F401
from tests.packets.store_fakes import SHOPIFY_TOKEN, shop  # noqa: F401

URL = "/connections/"


@pytest.mark.django_db
def test_it_is_the_owners_page_alone(support_client):
    assert reverse("packets:connections") == URL
    assert support_client.get(URL).status_code == 403
    assert support_client.post(reverse("packets:connection-test", args=["shopify"])).status_code == 403
    assert AuditEvent.objects.filter(action="access.refused").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("subscriptions", [1, 3])
def test_it_never_shows_a_secret_back(owner_client, settings, subscriptions, django_assert_num_queries):
    settings.SHOPIFY_SHOP_URL, settings.SHOPIFY_ADMIN_TOKEN = "https://demo.myshopify.com", "shpat_0123456789abcdWXYZ"
    settings.WOOCOMMERCE_CONSUMER_SECRET = "cs_verysecretvalue9876"
    settings.GENERIC_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    created = [OutboundSubscription.objects.create(url=f"https://hooks.zapier.test/{n}") for n in range(subscriptions)]
    factories.StoreActionFactory(
        status="failed", error="Shopify: Access denied (ACCESS_DENIED)", finished_at=timezone.now()
    )
    # session, user, groups; per store platform: last success, last failure (2 × 2); per message
    # channel: last sent, last failure (3 × 2); the Slack app: last post, last failure, people linked (3);
    # Zendesk tickets: last opened, last error (2);
    # verified and rejected deliveries per source (2); recent connection tests; subscriptions;
    # ShipStation, BigCommerce and Magento: their deliveries (2), BigCommerce's store actions (2),
    # ShipStation's tags (2)
    with django_assert_num_queries(28):
        response = owner_client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    for secret in ["shpat_0123456789abcdWXYZ", "cs_verysecretvalue9876", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]:
        assert secret not in body
    assert "set (…WXYZ)" in body and "set (…9876)" in body and "set (…LaSw)" in body
    assert "Shopify: Access denied (ACCESS_DENIED)" in body
    for subscription in created:
        assert subscription.secret not in body and subscription.url in body


@pytest.mark.django_db
def test_it_tests_the_shopify_connection(owner_client, shop):  # noqa: F811
    response = owner_client.post(reverse("packets:connection-test", args=["shopify"]), follow=True)
    assert "Shopify answered: shop “Fake Shopify store”" in response.content.decode()
    event = AuditEvent.objects.get(action="connection.tested")
    assert event.data == {"name": "shopify", "ok": True}


@pytest.mark.django_db
def test_it_shows_why_a_test_failed(owner_client, shop, settings):  # noqa: F811
    settings.SHOPIFY_ADMIN_TOKEN = "shpat_wrong"
    owner_client.post(reverse("packets:connection-test", args=["shopify"]))
    response = owner_client.get(URL)
    assert "Invalid API key or access token" in response.content.decode()
    assert AuditEvent.objects.get(action="connection.tested").data["ok"] is False


@pytest.mark.django_db
def test_it_probes_slack_without_posting_and_asks_twilio_for_the_account(owner_client, loopback_http, settings):  # noqa: F811
    settings.SLACK_WEBHOOK_URL = loopback_http.url + "/services/T000/B000/XXXX"
    settings.TWILIO_API_BASE, settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = loopback_http.url, "AC1", "tok"
    loopback_http.answer(400, "no_text")
    loopback_http.answer(200, {"sid": "AC1", "status": "active"})

    owner_client.post(reverse("packets:connection-test", args=["slack"]))
    owner_client.post(reverse("packets:connection-test", args=["twilio"]))

    slack, twilio = loopback_http.requests
    assert slack.json() == {} and twilio.path == "/2010-04-01/Accounts/AC1.json"
    summaries = list(
        AuditEvent.objects.filter(action="connection.tested").order_by("id").values_list("summary", flat=True)
    )
    assert summaries == [
        "slack: works: Slack knows the hook (nothing was posted)",
        "twilio: works: Twilio account status: active",
    ]


@pytest.mark.django_db
def test_it_refuses_an_unknown_connection(owner_client):
    assert owner_client.post(reverse("packets:connection-test", args=["myspace"])).status_code == 404


def _inbound_badge(body: str) -> str:
    row = body.split('id="connection-webhook-secrets"', 1)[1].split("</tr>", 1)[0]
    return row.split('<span class="badge">', 1)[1].split("</span>", 1)[0]


@pytest.mark.django_db
def test_it_says_how_many_inbound_webhook_secrets_are_set(owner_client, settings):
    from packets.integrations.connections import INBOUND

    for _source, setting in INBOUND:
        setattr(settings, setting, [] if isinstance(getattr(settings, setting, ""), list) else "")
    body = owner_client.get(URL).content.decode()
    assert _inbound_badge(body) == "none set"
    assert "configured" not in _inbound_badge(body)

    settings.GENERIC_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert _inbound_badge(owner_client.get(URL).content.decode()) == f"1 of {len(INBOUND)} set"

    for _source, setting in INBOUND:
        value = "s3cret-for-" + setting.lower()
        setattr(settings, setting, [value] if isinstance(getattr(settings, setting, ""), list) else value)
    assert _inbound_badge(owner_client.get(URL).content.decode()) == f"all {len(INBOUND)} set"
