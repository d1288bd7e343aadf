"""Customer replies posted by email providers to django-anymail's inbound webhooks.

``/anymail/<provider>/inbound/`` for Postmark, Mailgun (also ``inbound_mime/``), SendGrid, Amazon
SES (through SNS) and Brevo: whichever provider sends the store's mail, or none (a store may send
over SMTP and receive through a provider). Each post is checked as anymail checks it (HTTP basic
auth ``ANYMAIL_WEBHOOK_SECRET``; Mailgun's signing key too): one that does not verify gets 401 with
the reason, one of the wrong shape 400. Anymail then sends its ``inbound`` signal, and
``packets.signals`` hands the message to ``replies.store``: kept raw, read by a task.
"""

from __future__ import annotations

import logging

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView
from anymail.webhooks.brevo import BrevoInboundWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from anymail.webhooks.sendgrid import SendGridInboundWebhookView
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from packets.models import InboundMail
from packets.notify.email_tracking import MalformedPost, guarded

logger = logging.getLogger(__name__)

INBOUND_VIEWS = {
    "postmark": guarded(PostmarkInboundWebhookView),
    "mailgun": guarded(MailgunInboundWebhookView),
    "sendgrid": guarded(SendGridInboundWebhookView),
    "amazon_ses": guarded(AmazonSESInboundWebhookView),
    "brevo": guarded(BrevoInboundWebhookView),
}
# anymail's esp_name -> where the reply came from
SOURCE_OF = {
    "Postmark": InboundMail.Source.POSTMARK,
    "Mailgun": InboundMail.Source.MAILGUN,
    "SendGrid": InboundMail.Source.SENDGRID,
    "Amazon SES": InboundMail.Source.AMAZON_SES,
    "Brevo": InboundMail.Source.BREVO,
}


@csrf_exempt
@login_not_required
def inbound_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """Anymail's inbound view for ``provider``; 401 (with the reason) when the post does not verify."""
    view_class = INBOUND_VIEWS.get(provider)
    if view_class is None:
        raise Http404("No such email provider")
    if request.method == "POST" and not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return _refused(provider, "ANYMAIL_WEBHOOK_SECRET is not set: inbound email webhooks are refused until it is")
    try:
        return view_class.as_view()(request)
    except AnymailWebhookValidationFailure as exc:
        return _refused(provider, str(exc))
    except AnymailConfigurationError as exc:  # the provider's keys are not set here, or the wrong hook
        return _refused(provider, str(exc), status=400)
    except MalformedPost as exc:
        return _refused(provider, f"the post is not a {provider} inbound email ({exc})"[:300], status=400)


def _refused(provider: str, reason: str, status: int = 401) -> HttpResponse:
    logger.warning("Inbound email webhook from %s refused: %s", provider, reason)
    return HttpResponse(reason, status=status, content_type="text/plain")
