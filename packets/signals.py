"""Audit rows for authentication events, email providers' delivery reports handed to
``email_tracking``, and customers' email replies handed to ``notify.replies`` (stored, then read
by a task). Business rules never live in signals."""

from anymail.signals import inbound, tracking
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from packets.notify import email_tracking, inbound_webhooks, replies

from .models import AuditEvent


@receiver(tracking, dispatch_uid="packets.notify.email_tracking")
def email_delivery_report(sender, event, esp_name, **kwargs):
    email_tracking.record(event, esp_name)


@receiver(inbound, dispatch_uid="packets.inbound_reply")
def email_reply(sender, event, esp_name, **kwargs):
    replies.store(inbound_webhooks.SOURCE_OF[esp_name], event.message, fallback_id=event.event_id or "")


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    AuditEvent.record("auth.login", actor=user, summary="Signed in", ip=_ip(request))


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    AuditEvent.record("auth.logout", actor=user, summary="Signed out", ip=_ip(request))


@receiver(user_locked_out, dispatch_uid="packets.audit_lockout")
def audit_lockout(sender, request, username=None, ip_address=None, **kwargs):
    """One row per lockout. Failed sign-ins are counted by django-axes (one row per username, address
    and browser), not audited one by one: a brute force must not grow the append-only trail. Axes
    sends this signal again for each attempt refused during the lockout; only the failure that
    started it carries ``axes_failures_since_start``, so only that one is recorded."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    who = str(username or "")[:150]
    AuditEvent.record(
        "auth.locked_out",
        summary=f"Sign-in locked out after {failures} failures for {who!r} from {ip_address}"[:500],
        username=who,
        ip=ip_address or "",
        failures=failures,
        cooloff_minutes=int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    )


def _ip(request) -> str:
    if request is None:
        return ""
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR", "")
