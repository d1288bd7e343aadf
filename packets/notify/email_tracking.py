"""What email providers report after a message left: delivered, bounced, marked as spam.

The providers post to django-anymail's tracking webhooks (``/anymail/<provider>/tracking/``),
which check the post (HTTP basic auth ``ANYMAIL_WEBHOOK_SECRET``, plus the provider's signature
where it signs: Mailgun, MailerSend...; a post that does not verify gets 401, one for a provider
whose keys are not set here 400, both with the reason), turn it into normalised events and send
anymail's ``tracking`` signal; ``packets.signals`` hands each event to ``record``.

``record`` finds the message by the provider's id and moves its ``delivery`` up the scale
delivered < bounced < complained (a late "delivered" never hides a bounce), with an audit row on
its case. A bounce or a spam complaint puts the case before the owner ("awaiting the owner") and
tells subscribed automations (``case.updated``). An id we never sent is answered 200 and logged:
a provider retries anything else, and the id will not appear later.
"""

from __future__ import annotations

import logging
import re

from anymail.exceptions import AnymailAPIError, AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, EventType
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailersend import MailerSendTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.mailjet import MailjetTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from anymail.webhooks.sparkpost import SparkPostTrackingWebhookView
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from packets.integrations.outbound import case_updated
from packets.models import AuditEvent, Case, Message

logger = logging.getLogger(__name__)


class MalformedPost(Exception):
    """A post that verified but is not the shape the provider sends (not JSON, a list for an object)."""


# what anymail's parsers raise on a body of the wrong shape
_SHAPE_ERRORS = (AnymailAPIError, AttributeError, KeyError, TypeError, ValueError)


def guarded(view_class):
    """The provider's view, with a body of the wrong shape raised as ``MalformedPost``.

    Only reading the post is guarded (the provider's own checks and its parser); what the events
    then do here (``record``, through the signal) raises as it would."""

    def run_validators(self, request):
        try:
            return view_class.run_validators(self, request)
        except _SHAPE_ERRORS as exc:
            raise MalformedPost(f"{type(exc).__name__}: {exc}") from exc

    def parse_events(self, request):
        try:
            return list(view_class.parse_events(self, request))
        except _SHAPE_ERRORS as exc:
            raise MalformedPost(f"{type(exc).__name__}: {exc}") from exc

    return type(view_class.__name__, (view_class,), {"run_validators": run_validators, "parse_events": parse_events})


TRACKING_VIEWS = {
    name: guarded(view)
    for name, view in {
        "postmark": PostmarkTrackingWebhookView,
        "mailgun": MailgunTrackingWebhookView,
        "amazon_ses": AmazonSESTrackingWebhookView,
        "brevo": BrevoTrackingWebhookView,
        "mailjet": MailjetTrackingWebhookView,
        "sparkpost": SparkPostTrackingWebhookView,
        "mailersend": MailerSendTrackingWebhookView,
        "sendgrid": SendGridTrackingWebhookView,
    }.items()
}
DELIVERY_OF = {
    EventType.DELIVERED: Message.Delivery.DELIVERED,
    EventType.BOUNCED: Message.Delivery.BOUNCED,
    EventType.REJECTED: Message.Delivery.BOUNCED,  # the provider would not send to the address
    EventType.COMPLAINED: Message.Delivery.COMPLAINED,
}
FOR_THE_OWNER = {Message.Delivery.BOUNCED, Message.Delivery.COMPLAINED}
ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


@csrf_exempt
@login_not_required
def tracking_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """Anymail's tracking view for ``provider``; 401 (with the reason) when the post does not verify."""
    view_class = TRACKING_VIEWS.get(provider)
    if view_class is None:
        raise Http404("No such email provider")
    if request.method == "POST" and not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return _refused(provider, "ANYMAIL_WEBHOOK_SECRET is not set: email tracking webhooks are refused until it is")
    try:
        return view_class.as_view()(request)
    except AnymailWebhookValidationFailure as exc:
        return _refused(provider, str(exc))
    except AnymailConfigurationError as exc:  # the provider's keys are not set here, or a wrong hook
        return _refused(provider, str(exc), status=400)
    except MalformedPost as exc:  # a body that is not what the provider posts
        return _refused(provider, f"the post is not a {provider} event ({exc})"[:300], status=400)


def _refused(provider: str, reason: str, status: int = 401) -> HttpResponse:
    logger.warning("Email tracking webhook from %s refused: %s", provider, reason)
    return HttpResponse(reason, status=status, content_type="text/plain")


def record(event: AnymailTrackingEvent, esp_name: str) -> Message | None:
    """Apply one provider event to the message it names; the message, or None when nothing applied."""
    delivery = DELIVERY_OF.get(event.event_type)
    if delivery is None:
        logger.info("%s reported %s for %s: kept in the log only", esp_name, event.event_type, event.message_id)
        return None
    ids = _id_forms(event.message_id)
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",)).select_related("case").filter(provider_id__in=ids).first()
            if ids
            else None
        )
        if message is None:
            logger.warning(
                "%s reported %s for message id %r, which no message of ours has: ignored",
                esp_name,
                event.event_type,
                event.message_id,
            )
            return None
        if Message.DELIVERY_RANK[delivery] <= Message.DELIVERY_RANK[message.delivery]:
            return None  # the same report again, or one that a worse report already overtook
        detail = _detail(event)
        old = message.delivery
        message.delivery, message.delivery_detail = delivery, detail[:500]
        message.delivery_at = event.timestamp or timezone.now()
        message.save(update_fields=["delivery", "delivery_detail", "delivery_at"])
        label = Message.Delivery(delivery).label.lower()
        AuditEvent.record(
            f"message.{delivery}",
            case=message.case,
            obj=message,
            summary=f"{esp_name}: {label}{': ' + _no_addresses(detail) if detail else ''}"[:500],
            provider=esp_name,
            provider_event=event.event_type,
            reject_reason=event.reject_reason or "",
            old=old,
        )
        if delivery in FOR_THE_OWNER and message.case is not None:
            _flag_for_owner(message, label, detail)
    return message


def _id_forms(message_id: str | None) -> list[str]:
    """The provider's id as stored: bare or in angle brackets (SMTP relays report our Message-ID)."""
    if not message_id:
        return []
    bare = str(message_id).strip().strip("<>")
    return [bare, f"<{bare}>"]


def _detail(event: AnymailTrackingEvent) -> str:
    parts = [event.description or "", event.mta_response or ""]
    return " — ".join(part.strip() for part in parts if part and part.strip())


def _no_addresses(text: str) -> str:
    """Audit rows are never rewritten, so they never keep an address (an erasure could not reach it)."""
    return ADDRESS.sub("[address]", text)


def _flag_for_owner(message: Message, label: str, detail: str) -> None:
    case = Case.objects.select_for_update(of=("self",)).get(pk=message.case_id)
    if not case.is_open:
        return  # kept on the message and in the audit trail; nothing waits on a resolved case
    status_was = case.status
    why = f"Email {label}: {message.subject or 'a message'}" + (f" ({_no_addresses(detail)})" if detail else "")
    case.set_status(Case.Status.AWAITING_OWNER, reason=why[:480])
    case_updated(case, "message", status_was=status_was)
