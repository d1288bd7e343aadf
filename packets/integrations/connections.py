"""The store's connections to the outside, as the owner sees them on the Connections page.

Each connection says whether it is configured (secrets are never shown back: "set" and at most
the last four characters), when it last worked and last failed (read from the rows the product
already keeps: store actions, messages, webhook deliveries, outbound deliveries), and, where a
harmless call exists, offers a test: Shopify ``{ shop { name } }``, WooCommerce
``GET /wp-json/wc/v3/system_status``, an SMTP handshake, Twilio's account, a Slack hook
probed with an empty body (Slack answers ``no_text`` without posting), the Slack app's bot token
through ``auth.test``, Zendesk's ``users/me``.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import datetime

import requests
from django.conf import settings
from django.core.mail import get_connection
from django.db.models import Max, OuterRef, Q, Subquery
from django.urls import reverse

from backorders.intake import platform_api
from backorders.intake.common import MappingError
from backorders.models import WebhookDelivery
from packets.integrations.slack import posting as slack_posting
from packets.models import (
    AuditEvent,
    Message,
    OutboundSubscription,
    PlatformTag,
    SlackLink,
    SlackPost,
    StoreAction,
    ZendeskTicket,
)
from packets.store_actions import bigcommerce, shopify, woocommerce
from packets.store_actions.results import StoreCallError


def mask(value: str) -> str:
    if not value:
        return "not set"
    return f"set (…{value[-4:]})" if len(value) >= 12 else "set"


@dataclass
class Connection:
    name: str
    label: str
    configured: bool
    details: list[tuple[str, str]] = field(default_factory=list)
    last_success: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    testable: bool = False
    last_test: AuditEvent | None = None
    badge: str = ""  # what the page says instead of "configured" / "not configured", when that is too coarse


def _timeouts() -> tuple[int, int]:
    return settings.STORE_API_CONNECT_TIMEOUT, settings.STORE_API_READ_TIMEOUT


def _store_history(platform: str) -> tuple[datetime | None, StoreAction | None]:
    actions = StoreAction.objects.filter(platform=platform)
    success = actions.filter(status="succeeded").aggregate(at=Max("finished_at"))["at"]
    failure = actions.filter(status="failed").order_by("-finished_at").only("error", "finished_at").first()
    return success, failure


def _message_history(channel: str) -> tuple[datetime | None, Message | None]:
    messages = Message.objects.filter(channel=channel)
    success = messages.filter(status="sent").aggregate(at=Max("sent_at"))["at"]
    failure = messages.filter(status="failed").order_by("-created_at").only("last_error", "created_at").first()
    return success, failure


def connections() -> list[Connection]:
    found = []
    success, failure = _store_history(StoreAction.Platform.SHOPIFY)
    found.append(
        Connection(
            "shopify",
            "Shopify admin API",
            bool(settings.SHOPIFY_SHOP_URL and settings.SHOPIFY_ADMIN_TOKEN),
            [
                ("Shop", settings.SHOPIFY_SHOP_URL or "not set"),
                ("Admin token", mask(settings.SHOPIFY_ADMIN_TOKEN)),
                ("API version", settings.SHOPIFY_API_VERSION),
            ],
            success,
            failure.error if failure else "",
            failure.finished_at if failure else None,
            testable=True,
        )
    )
    success, failure = _store_history(StoreAction.Platform.WOOCOMMERCE)
    found.append(
        Connection(
            "woocommerce",
            "WooCommerce REST API",
            bool(settings.WOOCOMMERCE_URL and settings.WOOCOMMERCE_CONSUMER_KEY),
            [
                ("Store", settings.WOOCOMMERCE_URL or "not set"),
                ("Consumer key", mask(settings.WOOCOMMERCE_CONSUMER_KEY)),
                ("Consumer secret", mask(settings.WOOCOMMERCE_CONSUMER_SECRET)),
            ],
            success,
            failure.error if failure else "",
            failure.finished_at if failure else None,
            testable=True,
        )
    )
    success, failure = _message_history(Message.Channel.EMAIL)
    found.append(
        Connection(
            "email",
            "Email",
            _email_configured(),
            _email_details(),
            success,
            failure.last_error if failure else "",
            failure.created_at if failure else None,
            testable=_email_over_smtp(),
        )
    )
    success, failure = _message_history(Message.Channel.SMS)
    found.append(
        Connection(
            "twilio",
            "Twilio SMS",
            bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN),
            [
                ("Account", mask(settings.TWILIO_ACCOUNT_SID)),
                ("Auth token", mask(settings.TWILIO_AUTH_TOKEN)),
                ("From", settings.TWILIO_FROM or "not set"),
            ],
            success,
            failure.last_error if failure else "",
            failure.created_at if failure else None,
            testable=True,
        )
    )
    success, failure = _message_history(Message.Channel.SLACK)
    found.append(
        Connection(
            "slack",
            "Slack alerts",
            bool(settings.SLACK_WEBHOOK_URL),
            [("Incoming webhook", mask(settings.SLACK_WEBHOOK_URL))],
            success,
            failure.last_error if failure else "",
            failure.created_at if failure else None,
            testable=True,
        )
    )
    found.append(_slack_app())
    tickets = ZendeskTicket.objects.all()
    success = tickets.filter(status=ZendeskTicket.Status.CREATED).aggregate(at=Max("finished_at"))["at"]
    failure = tickets.exclude(error="").order_by("-finished_at", "-id").only("error", "finished_at").first()
    found.append(
        Connection(
            "zendesk",
            "Zendesk",
            bool(settings.ZENDESK_URL and settings.ZENDESK_OAUTH_TOKEN),
            [
                ("Account", settings.ZENDESK_URL or "not set"),
                ("OAuth token", mask(settings.ZENDESK_OAUTH_TOKEN)),
                (
                    "Ticket comments in",
                    "/webhooks/zendesk/ (ZENDESK_WEBHOOK_SECRET "
                    + ("set)" if settings.ZENDESK_WEBHOOK_SECRET else "not set: comments are refused)"),
                ),
            ],
            success,
            failure.error if failure else "",
            failure.finished_at if failure else None,
            testable=True,
        )
    )
    found.extend(_platforms())
    found.append(_inbound_secrets())
    return found


def _slack_app() -> Connection:
    """The Slack app: the owner's alerts out (bot token), the buttons pressed back in (signing secret)."""
    posts = SlackPost.objects.all()
    success = posts.filter(status=SlackPost.Status.SENT).aggregate(at=Max("finished_at"))["at"]
    failure = posts.filter(status=SlackPost.Status.FAILED).order_by("-finished_at", "-id").only("error", "finished_at")
    failure = failure.first()
    secret = settings.SLACK_SIGNING_SECRET
    return Connection(
        "slack-app",
        "Slack app (owner alerts)",
        bool(settings.SLACK_BOT_TOKEN and settings.SLACK_OWNER_CHANNEL),
        [
            ("Bot token", mask(settings.SLACK_BOT_TOKEN)),
            ("Owner channel", settings.SLACK_OWNER_CHANNEL or "not set"),
            ("Signing secret", mask(secret) if secret else "not set: presses are refused"),
            ("Interactivity URL", f"{settings.SITE_URL}{reverse('packets:slack-interactions')}"),
            ("Linked people", str(SlackLink.objects.count())),
        ],
        success,
        failure.error if failure else "",
        failure.finished_at if failure else None,
        testable=True,
    )


def _email_over_smtp() -> bool:
    return settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"


def _email_configured() -> bool:
    # a provider's required keys are checked at start-up (config.settings)
    return bool(settings.EMAIL_HOST) if _email_over_smtp() else True


def _email_details() -> list[tuple[str, str]]:
    provider = settings.EMAIL_PROVIDER
    details = [("Provider", provider), ("Backend", settings.EMAIL_BACKEND.rsplit(".", 2)[-2])]
    if _email_over_smtp():
        details += [
            ("Server", f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"),
            ("Password", mask(settings.EMAIL_HOST_PASSWORD)),
        ]
    else:
        keys = settings.EMAIL_PROVIDERS.get(provider, ("", {}))[1]
        details += [(name, mask(settings.ANYMAIL.get(name, ""))) for name in keys if not name.endswith("_API_URL")]
    if provider != "smtp":
        secret = "set" if settings.ANYMAIL.get("WEBHOOK_SECRET") else "not set: reports are refused"
        details.append(("Delivery reports", f"/anymail/{provider}/tracking/ (ANYMAIL_WEBHOOK_SECRET {secret})"))
    return details


INBOUND = [
    (WebhookDelivery.Source.SHOPIFY, "SHOPIFY_WEBHOOK_SECRETS"),
    (WebhookDelivery.Source.WOOCOMMERCE, "WOOCOMMERCE_WEBHOOK_SECRET"),
    (WebhookDelivery.Source.AFTERSHIP, "AFTERSHIP_WEBHOOK_SECRET"),
    (WebhookDelivery.Source.EASYPOST, "EASYPOST_WEBHOOK_SECRET"),
    (WebhookDelivery.Source.SHIPPO, "SHIPPO_WEBHOOK_SECRET"),
    (WebhookDelivery.Source.GENERIC, "GENERIC_WEBHOOK_SECRET"),
    (WebhookDelivery.Source.SHIPSTATION, "SHIPSTATION_WEBHOOK_SECRET"),
    (WebhookDelivery.Source.BIGCOMMERCE, "BIGCOMMERCE_WEBHOOK_SECRET"),
]


PLATFORM_SOURCES = [
    WebhookDelivery.Source.SHIPSTATION,
    WebhookDelivery.Source.BIGCOMMERCE,
    WebhookDelivery.Source.MAGENTO,
]


def _platform_deliveries() -> tuple[dict, dict]:
    """Per platform source, in two queries: ``{source: {"at": last processed, "cursor": ...}}`` and
    ``{source: its latest failed delivery}`` (Magento's cursor is its newest order kept)."""
    deliveries = WebhookDelivery.objects.filter(source__in=PLATFORM_SOURCES)
    seen = {
        row["source"]: row
        for row in deliveries.values("source").annotate(
            at=Max("processed_at", filter=Q(status="processed")),
            cursor=Max("resource_updated_at", filter=Q(topic="order", signature_valid=True)),
        )
    }
    # the newest failure of each source (a correlated subquery: DISTINCT ON is PostgreSQL's alone)
    newest = deliveries.filter(status="failed", source=OuterRef("source")).order_by("-processed_at", "-pk")
    failed = deliveries.filter(status="failed", pk=Subquery(newest.values("pk")[:1]))
    return seen, {d.source: d for d in failed.only("source", "error", "processed_at")}


def _platforms() -> list[Connection]:
    """ShipStation, BigCommerce and Magento: what is set, and when each last worked or failed."""
    seen, failed = _platform_deliveries()
    S = WebhookDelivery.Source
    tags = PlatformTag.objects.filter(platform=PlatformTag.Platform.SHIPSTATION)
    tag_failure = tags.exclude(error="").order_by("-updated_at").only("error", "updated_at").first()
    failure = failed.get(S.SHIPSTATION)
    found = [
        Connection(
            "shipstation",
            "ShipStation API",
            bool(settings.SHIPSTATION_API_KEY and settings.SHIPSTATION_API_SECRET),
            [
                ("API", settings.SHIPSTATION_API_URL),
                ("API key", mask(settings.SHIPSTATION_API_KEY)),
                ("API secret", mask(settings.SHIPSTATION_API_SECRET)),
                ("Backorder tag id", settings.SHIPSTATION_BACKORDER_TAG_ID or "not set (orders are not tagged)"),
                ("Orders carrying the tag", str(tags.filter(tagged=True).count())),
            ],
            seen.get(S.SHIPSTATION, {}).get("at"),
            (failure or tag_failure).error if (failure or tag_failure) else "",
            failure.processed_at if failure else (tag_failure.updated_at if tag_failure else None),
            testable=True,
        )
    ]
    success, failure = _store_history(StoreAction.Platform.BIGCOMMERCE)
    refused = failed.get(S.BIGCOMMERCE)
    found.append(
        Connection(
            "bigcommerce",
            "BigCommerce API",
            bool(settings.BIGCOMMERCE_STORE_HASH and settings.BIGCOMMERCE_ACCESS_TOKEN),
            [
                ("Store hash", settings.BIGCOMMERCE_STORE_HASH or "not set"),
                ("Access token", mask(settings.BIGCOMMERCE_ACCESS_TOKEN)),
                ("API", settings.BIGCOMMERCE_API_URL),
            ],
            max((at for at in (success, seen.get(S.BIGCOMMERCE, {}).get("at")) if at), default=None),
            (failure.error if failure else "") or (refused.error if refused else ""),
            failure.finished_at if failure else (refused.processed_at if refused else None),
            testable=True,
        )
    )
    failure, cursor = failed.get(S.MAGENTO), seen.get(S.MAGENTO, {}).get("cursor")
    found.append(
        Connection(
            "magento",
            "Magento REST API",
            bool(settings.MAGENTO_URL and settings.MAGENTO_ACCESS_TOKEN),
            [
                ("Store", settings.MAGENTO_URL or "not set"),
                ("Integration token", mask(settings.MAGENTO_ACCESS_TOKEN)),
                ("Pulled", "every 5 minutes (magento.sync), or python manage.py sync_magento"),
                ("Orders pulled up to", f"{cursor:%Y-%m-%d %H:%M:%S} UTC" if cursor else "nothing pulled yet"),
            ],
            seen.get(S.MAGENTO, {}).get("at"),
            failure.error if failure else "",
            failure.processed_at if failure else None,
            testable=True,
        )
    )
    return found


def _inbound_secrets() -> Connection:
    """Webhook secrets, with when each source last delivered something that verified or was rejected."""
    verified = dict(
        WebhookDelivery.objects.filter(signature_valid=True)
        .values("source")
        .annotate(at=Max("received_at"))
        .values_list("source", "at")
    )
    rejected = dict(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.REJECTED)
        .values("source")
        .annotate(at=Max("received_at"))
        .values_list("source", "at")
    )
    details = []
    set_count = 0
    for source, setting in INBOUND:
        value = getattr(settings, setting, "")
        value = ",".join(value) if isinstance(value, list) else value
        set_count += bool(value)
        seen = verified.get(source)
        refused = rejected.get(source)
        note = mask(value)
        if seen:
            note += f"; last verified delivery {seen:%Y-%m-%d %H:%M} UTC"
        if refused:
            note += f"; last rejected {refused:%Y-%m-%d %H:%M} UTC"
        details.append((setting, note))
    if set_count == len(INBOUND):
        badge = f"all {set_count} set"
    else:
        badge = f"{set_count} of {len(INBOUND)} set" if set_count else "none set"
    return Connection("webhook-secrets", "Webhook secrets (inbound)", set_count > 0, details, badge=badge)


def with_last_tests(found: list[Connection]) -> list[Connection]:
    latest: dict[str, AuditEvent] = {}
    for event in AuditEvent.objects.filter(action="connection.tested").order_by("-at", "-id")[:200]:
        latest.setdefault(event.data.get("name", ""), event)
    for connection in found:
        connection.last_test = latest.get(connection.name)
    return found


def subscriptions() -> list[OutboundSubscription]:
    return list(OutboundSubscription.objects.order_by("url", "id"))


# --------------------------------------------------------------------------- tests


class TestFailed(Exception):
    pass


def run_test(name: str) -> str:
    """Make the connection's harmless call; its answer in words, or ``TestFailed`` with the reason."""
    try:
        return TESTS[name]()
    except StoreCallError as exc:
        raise TestFailed(exc.message) from exc
    except MappingError as exc:  # platform_api: refused, not configured, or no answer
        raise TestFailed(str(exc)) from exc
    except requests.RequestException as exc:
        raise TestFailed(f"No answer: {exc.__class__.__name__}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TestFailed(f"{exc.__class__.__name__}: {exc}") from exc


def _test_shopify() -> str:
    return f"Shopify answered: shop “{shopify.check_connection()}”"


def _test_woocommerce() -> str:
    return woocommerce.check_connection()


def _test_email() -> str:
    connection = get_connection(fail_silently=False)
    connection.open()
    connection.close()
    return f"The mail server at {settings.EMAIL_HOST}:{settings.EMAIL_PORT} accepted a connection"


def _test_twilio() -> str:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        raise TestFailed("Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    url = f"{settings.TWILIO_API_BASE}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}.json"
    response = requests.get(
        url, auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN), timeout=_timeouts(), allow_redirects=False
    )
    if response.status_code != 200:
        raise TestFailed(f"Twilio answered {response.status_code}: {response.text[:300]}")
    return f"Twilio account status: {response.json().get('status', 'unknown')}"


def _test_slack() -> str:
    if not settings.SLACK_WEBHOOK_URL:
        raise TestFailed("Set SLACK_WEBHOOK_URL")
    # An empty body is refused with "no_text" by a live hook, without posting anything.
    response = requests.post(settings.SLACK_WEBHOOK_URL, json={}, timeout=_timeouts(), allow_redirects=False)
    if response.status_code == 400 and "no_text" in response.text:
        return "Slack knows the hook (nothing was posted)"
    if response.status_code == 200:
        return "Slack accepted the hook"
    raise TestFailed(f"Slack answered {response.status_code}: {response.text[:300]}")


def _test_slack_app() -> str:
    try:
        return slack_posting.check_connection()
    except PermissionError as exc:
        raise TestFailed(str(exc)) from exc


def _test_zendesk() -> str:
    url, token = settings.ZENDESK_URL, settings.ZENDESK_OAUTH_TOKEN
    if not (url and token):
        raise TestFailed("Set ZENDESK_URL and ZENDESK_OAUTH_TOKEN")
    response = requests.get(
        f"{url.rstrip('/')}/api/v2/users/me.json",
        headers={"Authorization": f"Bearer {token}"},
        timeout=_timeouts(),
        allow_redirects=False,
    )
    if response.status_code != 200:
        raise TestFailed(f"Zendesk answered {response.status_code}: {response.text[:300]}")
    return f"Zendesk knows the token's user: {response.json().get('user', {}).get('email', '?')}"


def _test_shipstation() -> str:
    answer = platform_api.call(platform_api.shipstation(), "GET", "/accounts/listtags")
    tags = {str(t.get("tagId")): t.get("name", "?") for t in answer or [] if isinstance(t, dict)}
    wanted = settings.SHIPSTATION_BACKORDER_TAG_ID
    if wanted and wanted not in tags:
        raise TestFailed(f"ShipStation has no tag with id {wanted} (its tags: {', '.join(tags.values()) or 'none'})")
    named = f"; tag {wanted} is “{tags[wanted]}”" if wanted else ""
    return f"ShipStation answered with {len(tags)} tag(s){named}"


def _test_bigcommerce() -> str:
    return bigcommerce.check_connection()


def _test_magento() -> str:
    configs = platform_api.call(platform_api.magento(), "GET", "/V1/store/storeConfigs")
    codes = [c.get("code", "?") for c in configs or [] if isinstance(c, dict)]
    return f"Magento answered with store view(s): {', '.join(codes) or 'none'}"


TESTS = {
    "shipstation": _test_shipstation,
    "bigcommerce": _test_bigcommerce,
    "magento": _test_magento,
    "shopify": _test_shopify,
    "woocommerce": _test_woocommerce,
    "email": _test_email,
    "twilio": _test_twilio,
    "slack": _test_slack,
    "slack-app": _test_slack_app,
    "zendesk": _test_zendesk,
}
