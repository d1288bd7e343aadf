"""Providers: email through Django's mail backend (SMTP, or a provider's API through
django-anymail, ``EMAIL_PROVIDER``), SMS through Twilio's Messages API, staff alerts to a Slack
incoming webhook.

Each sender returns the provider's id for the message, or raises ``TransientSendError`` (try again
later: timeouts, connection errors, 5xx, 429 with its Retry-After) or ``PermanentSendError``
(a 4xx that will not change by waiting, or missing configuration). Every request carries the
message's idempotency key: as the email's ``Message-ID`` (and ``X-Idempotency-Key``), and as an
``Idempotency-Key`` header to Twilio and Slack. Twilio and Slack do not deduplicate on it today;
the duplicate guard is ours (the claim in ``tasks.send_message`` and ``find_sent_sms``).

The id returned for an email is the provider's own message id when an API sent it (anymail's
``anymail_status.message_id``: what the provider's delivery webhooks name), else our
``Message-ID`` header (what an SMTP relay's events carry as ``smtp-id``). Every email names the
signed reply address (``reply_address``) as its Reply-To when ``REPLY_DOMAIN`` is set, and the
``Message-ID`` it went out with is kept on the message: a customer's reply names one or both.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from backorders.formats.phones import is_e164
from packets.models import Message
from packets.notify.purchase_orders import attachments
from packets.notify.reply_address import reply_address


class SendError(Exception):
    pass


class TransientSendError(SendError):
    """Try again later. ``may_have_arrived``: the request went out and no answer came back (a read
    timeout, a connection lost mid-send), so the provider may have it: the retry is flagged."""

    def __init__(self, message: str, *, retry_after: float | None = None, may_have_arrived: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.may_have_arrived = may_have_arrived


class PermanentSendError(SendError):
    pass


def send(message: Message) -> str:
    if message.channel == Message.Channel.EMAIL:
        return send_email(message)
    if message.channel == Message.Channel.SMS:
        return send_sms(message)
    if message.channel == Message.Channel.SLACK:
        return send_slack(message)
    raise PermanentSendError(f"No sender for channel {message.channel!r}")


# --------------------------------------------------------------------------- email


def message_id_header(message: Message) -> str:
    local = re.sub(r"[^A-Za-z0-9._-]", ".", message.idempotency_key)
    sender = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)
    domain = re.sub(r"[^A-Za-z0-9.-]", "", sender[1]) if len(sender) == 2 else ""
    return f"<{local}@{domain or 'backorder-desk.invalid'}>"


def send_email(message: Message) -> str:
    mid = message_id_header(message)
    reply_to = reply_address(message.pk)
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        reply_to=[reply_to] if reply_to else None,
        headers={"Message-ID": mid, "X-Idempotency-Key": message.idempotency_key},
    )
    for filename, content, mimetype in attachments(message):  # a purchase order's PDF
        email.attach(filename, content, mimetype)
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except smtplib.SMTPResponseException as exc:
        raise _smtp_answer(exc) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TransientSendError(f"Could not reach the mail server: {exc!r}") from exc
    try:
        sent = connection.send_messages([email])
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentSendError(f"The mail server refused the address {message.to}: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        raise _smtp_answer(exc) from exc
    except AnymailError as exc:  # before OSError: anymail's API errors are requests' (OSError) too
        raise _provider_error(exc) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        # connected, then no answer: the server may have taken the message before it went quiet
        raise TransientSendError(f"The mail server stopped answering: {exc!r}", may_have_arrived=True) from exc
    finally:
        with contextlib.suppress(Exception):  # a connection that timed out may not close cleanly
            connection.close()
    if not sent:
        raise TransientSendError("The mail backend accepted nothing")
    status = getattr(email, "anymail_status", None)
    return (status.message_id if status is not None and status.message_id else "") or mid


def _provider_error(exc: AnymailError) -> SendError:
    """An email provider's refusal, in its own words: retried when waiting may help."""
    provider = settings.EMAIL_PROVIDER
    status = exc.status_code
    response = getattr(exc, "response", None)
    detail = (response.text[:300].strip() if response is not None else "") or str(exc).splitlines()[0]
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentSendError(f"{provider} refused the address: {detail}")
    if isinstance(exc, AnymailAPIError) and (status is None or status == 429 or status >= 500):
        after = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
        # a read timeout: the request went out and no answer came back, so the provider may have it
        lost_answer = isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout)
        what = f"answered {status}" if status else "did not answer in time" if lost_answer else "could not be reached"
        return TransientSendError(f"{provider} {what}: {detail}", retry_after=after, may_have_arrived=lost_answer)
    return PermanentSendError(f"{provider} refused the message ({status or exc.__class__.__name__}): {detail}")


def _smtp_answer(exc: smtplib.SMTPResponseException) -> SendError:
    text = f"The mail server answered {exc.smtp_code}: {exc.smtp_error!r}"
    return TransientSendError(text) if 400 <= exc.smtp_code < 500 else PermanentSendError(text)


# --------------------------------------------------------------------------- HTTP providers


def _timeouts() -> tuple[int, int]:
    return settings.NOTIFY_CONNECT_TIMEOUT, settings.NOTIFY_READ_TIMEOUT


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _post(name: str, url: str, **kwargs) -> requests.Response:
    try:
        response = requests.post(url, timeout=_timeouts(), allow_redirects=False, **kwargs)
    except requests.ConnectTimeout as exc:
        raise TransientSendError(f"Could not reach {name} in time") from exc
    except requests.Timeout as exc:  # the request went out; the answer did not come back
        raise TransientSendError(f"{name} did not answer in time", may_have_arrived=True) from exc
    except requests.RequestException as exc:
        raise TransientSendError(f"Could not reach {name}: {exc.__class__.__name__}") from exc
    _raise_for_status(name, response)
    return response


def _raise_for_status(name: str, response: requests.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    detail = response.text[:300].strip()
    text = f"{name} answered {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        raise TransientSendError(text, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    raise PermanentSendError(text)


def _twilio_messages_url() -> str:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM):
        raise PermanentSendError("SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM")
    return f"{settings.TWILIO_API_BASE}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Messages.json"


def send_sms(message: Message) -> str:
    if not is_e164(message.to):
        raise PermanentSendError(
            f"{message.to!r} is not a phone number in international form (E.164, such as +15555555555): "
            "no SMS sent; fix the customer's phone or write by email"
        )
    response = _post(
        "Twilio",
        _twilio_messages_url(),
        data={"To": message.to, "From": settings.TWILIO_FROM, "Body": message.body},
        auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
        headers={"Idempotency-Key": message.idempotency_key, "Accept": "application/json"},
    )
    try:
        sid = response.json().get("sid") or ""
    except ValueError:
        sid = ""
    # A 2xx means Twilio took it: never send again because the answer lacked a sid.
    return sid or f"twilio-{response.status_code}-no-sid"


def find_sent_sms(message: Message, since: datetime) -> str | None:
    """The sid of an SMS Twilio already holds for this message (same number and text, sent since
    ``since``), so a redelivered task does not text the customer twice. None when there is none."""
    url = _twilio_messages_url()
    params = {"To": message.to, "DateSent>": (since - timedelta(days=1)).date().isoformat(), "PageSize": 50}
    try:
        response = requests.get(
            url, params=params, auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN), timeout=_timeouts()
        )
    except requests.RequestException as exc:
        raise TransientSendError(f"Could not ask Twilio whether the SMS went out: {exc.__class__.__name__}") from exc
    _raise_for_status("Twilio", response)
    try:
        found = response.json().get("messages") or []
    except ValueError:
        found = []
    for item in found:
        if item.get("to") == message.to and (item.get("body") or "").strip() == message.body.strip():
            return item.get("sid") or None
    return None


def send_slack(message: Message) -> str:
    if not settings.SLACK_WEBHOOK_URL:
        raise PermanentSendError("Slack is not configured: set SLACK_WEBHOOK_URL")
    response = _post(
        "Slack",
        settings.SLACK_WEBHOOK_URL,
        json={"text": message.body},
        headers={"Idempotency-Key": message.idempotency_key},
    )
    if response.text.strip() != "ok":
        raise PermanentSendError(f"Slack answered {response.status_code} without 'ok': {response.text[:200]!r}")
    return f"slack:{message.idempotency_key}"
