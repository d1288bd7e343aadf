"""Whether a channel is set up to send: nothing is drafted for a channel that is not.

``not_ready(channel)`` is empty when the channel can send, or says in words what is missing.
Drafting asks it before choosing a channel (an SMS customer is written to by email while SMS is
not set up); approval asks it again, so a draft whose channel lost its configuration says so on
the page and is refused, one by one and in bulk.
"""

from __future__ import annotations

from django.conf import settings

EMAIL, SMS, SLACK = "email", "sms", "slack"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def not_ready(channel: str) -> str:
    """Empty when ``channel`` can send now; else what is missing, as a sentence without a full stop."""
    if channel == SMS:
        missing = [
            name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM") if not getattr(settings, name)
        ]
        return f"SMS is not set up (missing {', '.join(missing)})" if missing else ""
    if channel == EMAIL:
        # a provider's own keys are checked at start-up (config.settings); SMTP needs a host
        if settings.EMAIL_BACKEND == SMTP_BACKEND and not settings.EMAIL_HOST:
            return "Email is not set up (missing EMAIL_HOST)"
        return ""
    if channel == SLACK:
        return "" if settings.SLACK_WEBHOOK_URL else "Slack is not set up (missing SLACK_WEBHOOK_URL)"
    return f"Unknown channel {channel!r}"


def ready(channel: str) -> bool:
    return not not_ready(channel)
