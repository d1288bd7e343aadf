"""Slack both ways: who a Slack user is on the desk, each call to Slack's Web API, each button press."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from .audit import AuditEvent
from .base import StatusMachine
from .cases import Case


class SlackLink(models.Model):
    """A desk user's Slack user id (``manage.py link_slack_user USERNAME SLACK_USER_ID``): a button
    pressed in Slack acts as this desk user, with this desk user's role."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_link")
    slack_user_id = models.CharField(max_length=32, unique=True, help_text="Slack's member id, e.g. U024BE7LH.")
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} is {self.slack_user_id} on Slack"


class SlackPost(StatusMachine, models.Model):
    """One call to Slack's Web API (``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``),
    written in the transaction that decided it and sent by the worker after commit
    (``packets.integrations.slack.posting.send_post``), retried with backoff.

    An owner alert carries ``state_key`` (the packet version, the case's status and why it needs
    the owner): one alert per case and state, however often the sweep runs. ``channel`` and ``ts``
    are where Slack put the message, so a button pressed on it can update it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    NOUN = "A Slack post"
    TRANSITIONS: dict[str, set[str]] = {
        Status.PENDING: {Status.SENDING},
        Status.SENDING: {Status.SENT, Status.PENDING, Status.FAILED},
        Status.FAILED: set(),
        Status.SENT: set(),
    }

    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="slack_posts")
    method = models.CharField(max_length=32, help_text="The Web API method: chat.postMessage, chat.update...")
    state_key = models.CharField(max_length=100, blank=True, help_text="An owner alert's case state; empty otherwise.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    request = models.JSONField(encoder=DjangoJSONEncoder, help_text="The body sent, the same on every attempt.")
    response = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    channel = models.CharField(max_length=32, blank=True)
    ts = models.CharField(max_length=32, blank=True, help_text="Slack's id of the posted message.")
    error = models.TextField(blank=True, help_text="Slack's own error code, or why no answer came.")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="An alert's buttons taken away: pressed, or the case moved on."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "state_key"], condition=~Q(state_key=""), name="slack_post_one_alert_per_state"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="slack_post_status_next"),
            models.Index(fields=["channel", "ts"], name="slack_post_channel_ts"),
        ]

    def __str__(self) -> str:
        return f"Slack {self.method} {self.pk} ({self.status})"

    def set_status(self, new: str, *, reason: str = "", **fields) -> None:
        with transaction.atomic():
            old = self._move(new, fields)
            if self.case_id is not None:
                AuditEvent.record(f"slack.{new}", case=self.case, obj=self, summary=reason or f"{old} → {new}", old=old)


class SlackInteraction(models.Model):
    """A button pressed in Slack, kept as Slack posted it (``payload``) and applied once by the
    worker (``packets.integrations.slack.interactions.apply_interaction``). ``key`` is the
    payload's hash: Slack's retries of the same press are the same row."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"

    key = models.CharField(max_length=64, unique=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    slack_user_id = models.CharField(max_length=32, blank=True)
    action_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="slack_interactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.TextField(blank=True, help_text="What the press did, as Slack was told.")
    retries_seen = models.PositiveSmallIntegerField(
        default=0, help_text="Slack's retries of this press (X-Slack-Retry-Num)."
    )
    received_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "received_at"], name="slack_interaction_waiting")]

    def __str__(self) -> str:
        return f"Slack press {self.action_id or '?'} by {self.slack_user_id or '?'} ({self.status})"
