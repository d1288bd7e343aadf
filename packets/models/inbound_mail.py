"""Customer replies by email, kept as they arrived (the MIME source), so a reply can be read again."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .cases import Case
from .messages import InboundMessage


class InboundMail(models.Model):
    """One email that reached the store's reply address (a provider's inbound webhook or the IMAP
    mailbox), or one comment on a case's Zendesk ticket, before and after it was matched to a case.
    The raw source (MIME, or Zendesk's JSON) stays for replay; erasure replaces it."""

    class Source(models.TextChoices):
        POSTMARK = "postmark", "Postmark"
        MAILGUN = "mailgun", "Mailgun"
        SENDGRID = "sendgrid", "SendGrid"
        AMAZON_SES = "amazon_ses", "Amazon SES"
        BREVO = "brevo", "Brevo"
        IMAP = "imap", "IMAP mailbox"
        ZENDESK = "zendesk", "Zendesk ticket comment"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, not read yet"
        MATCHED = "matched", "On its case"
        UNMATCHED = "unmatched", "Unmatched: waits for a person"
        AUTOMATED = "automated", "Auto-reply or bounce (not scored)"
        NOT_CUSTOMER = "not_customer", "Not the customer's words (not scored)"
        ERASED = "erased", "Erased"

    class MatchedBy(models.TextChoices):
        NONE = "", "Not matched"
        REPLY_ADDRESS = "reply_address", "Signed reply address"
        THREAD = "thread", "In-Reply-To / References"
        CUSTOMER = "customer", "Customer's address"
        PERSON = "person", "Attached by a person"
        TICKET = "ticket", "Zendesk ticket of the case"

    source = models.CharField(max_length=16, choices=Source.choices)
    message_id = models.CharField(max_length=255, blank=True, help_text="The email's Message-ID header.")
    from_address = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    raw = models.TextField(help_text="The email's MIME source, as it arrived.")
    stripped_text = models.TextField(blank=True, help_text="The provider's reply text without quotes, if it gave one.")
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    matched_by = models.CharField(max_length=16, choices=MatchedBy.choices, blank=True, default=MatchedBy.NONE)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_mail")
    inbound = models.OneToOneField(
        InboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="mail"
    )
    note = models.CharField(max_length=500, blank=True, help_text="Why it was matched, or not.")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "message_id"], condition=~Q(message_id=""), name="inbound_mail_once_per_source"
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_mail_status_received")]

    def __str__(self) -> str:
        return f"Email from {self.from_address or 'unknown'} ({self.get_status_display()})"
