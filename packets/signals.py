"""Audit rows for authentication events, and email providers' delivery reports handed to
``email_tracking``. Business rules never live in signals."""

from anymail.signals import tracking
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .models import AuditEvent
from .notify import email_tracking


@receiver(tracking, dispatch_uid="packets.notify.email_tracking")
def email_delivery_report(sender, event, esp_name, **kwargs):
    email_tracking.record(event, esp_name)


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    AuditEvent.record("auth.login", actor=user, summary="Signed in", ip=_ip(request))


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    AuditEvent.record("auth.logout", actor=user, summary="Signed out", ip=_ip(request))


@receiver(user_login_failed)
def audit_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    AuditEvent.record("auth.login_failed", summary=f"Failed sign-in for {username!r}", ip=_ip(request))


def _ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""
