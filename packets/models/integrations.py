"""Acting on the store, the helpdesk, and outbound events for automations."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from backorders.models import Order, Product
from packets.integrations.targets import target_problem

from .audit import AuditEvent
from .base import StatusMachine
from .cases import Case, Decision


class StoreActionQuerySet(models.QuerySet):
    def for_panel(self):
        return self.select_related("decision", "approved_by").order_by("created_at", "id")


class StoreAction(StatusMachine, models.Model):
    """One call to the store's admin API that an approved decision asked for.

    The row is the outbox: it is written in the approving transaction and run by the worker after
    commit (``packets.store_actions.runner.run_store_action``). ``request`` holds the exact call,
    ``response`` the platform's answer, ``error`` the platform's own message. The idempotency key
    is made once per action and reused only when the same call is retried; an outcome that is not
    known (a timeout after sending) becomes ``needs_check`` and the store is read back before any
    new call.

    ``after`` names the action this one waits on (a refund that belongs to a cancel): the worker
    runs it only once that action succeeded. While it has not, the row stays pending and shows
    what it waits for; if that action failed, it is never sent.
    """

    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"
        BIGCOMMERCE = "bigcommerce", "BigCommerce"

    class Kind(models.TextChoices):
        CANCEL = "cancel", "Cancel the order"
        REFUND = "refund", "Refund"
        HOLD = "hold", "Hold fulfilment"
        RELEASE_HOLD = "release_hold", "Release our fulfilment hold"
        TAG = "tag", "Tag the order"
        STOP_SELLING = "stop_selling", "Stop selling"
        RESUME_SELLING = "resume_selling", "Resume selling"
        SET_WORDING = "set_wording", "Backorder wording on the product page"
        CLEAR_WORDING = "clear_wording", "Remove the backorder wording"

    # Money moves and irreversible changes: an owner's approval, never a standing one.
    OWNER_ONLY_KINDS = frozenset({Kind.CANCEL, Kind.REFUND})
    # Changes to a product on the store (``target`` names it there), not to an order.
    PRODUCT_KINDS = frozenset({Kind.STOP_SELLING, Kind.RESUME_SELLING, Kind.SET_WORDING, Kind.CLEAR_WORDING})

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to run"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        NEEDS_CHECK = "needs_check", "Outcome unknown: the store is read back before any new call"

    NOUN = "A store action"
    TRANSITIONS: dict[str, set[str]] = {
        Status.PENDING: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.SUCCEEDED, Status.FAILED, Status.NEEDS_CHECK, Status.PENDING},
        Status.NEEDS_CHECK: {Status.RUNNING, Status.FAILED},
        Status.FAILED: {Status.PENDING},
        Status.SUCCEEDED: set(),
    }

    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.PROTECT, related_name="store_actions")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="store_actions", db_index=False
    )
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="store_actions")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="store_actions", db_index=False
    )
    target = models.CharField(
        max_length=64, blank=True, help_text="The product on the store a product action changes (its id there)."
    )
    platform = models.CharField(max_length=16, choices=Platform.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    plan = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="What was approved, in our terms.")
    request = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="The exact call sent.")
    response = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="The store's answer.")
    error = models.TextField(blank=True, help_text="The platform's own message when it refused or failed.")
    idempotency_key = models.CharField(max_length=100, unique=True)
    previous_keys = models.JSONField(default=list, blank=True, help_text="Keys of earlier, finished attempts.")
    external_ref = models.CharField(max_length=255, blank=True, help_text="The store's id: refund, hold or job.")
    gateway_cannot_refund = models.BooleanField(
        default=False, help_text="The payment gateway cannot refund automatically (WooCommerce)."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="store_actions"
    )
    after = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dependents",
        help_text="The action this one waits on: it runs only after that one succeeded.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StoreActionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "kind"], name="store_action_one_per_decision_kind"),
            # one unfinished change of a kind per product on the store, whoever proposed it
            models.UniqueConstraint(
                fields=["platform", "target", "kind"],
                condition=~Q(target="") & Q(status__in=["pending", "running", "needs_check"]),
                name="store_action_one_open_per_target",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="store_action_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status="running") | Q(started_at__isnull=False), name="store_action_running_has_start"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="store_action_status_next"),
            models.Index(fields=["product", "created_at"], name="store_action_product_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.get_platform_display()} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

    def waiting_on(self, after: StoreAction | None = None) -> StoreAction | None:
        """The action this pending one still waits on (``after`` when the caller has it loaded)."""
        if self.after_id is None or self.status != self.Status.PENDING:
            return None
        after = after if after is not None and after.pk == self.after_id else self.after
        return None if after.status == self.Status.SUCCEEDED else after

    @classmethod
    def unblocked(cls) -> Q:
        """Rows free to run: waiting on nothing, or on an action that succeeded. A condition on the
        row's own column (no join), so a conditional UPDATE re-checks it on the row it locks."""
        succeeded = cls.objects.filter(status=cls.Status.SUCCEEDED).values("pk")
        return Q(after__isnull=True) | Q(after_id__in=succeeded)

    def set_status(self, new: str, *, actor=None, reason: str = "", **fields) -> None:
        with transaction.atomic():
            old = self._move(new, fields)
            AuditEvent.record(
                f"store_action.{new}",
                actor=actor,
                case=self.case,
                obj=self,
                summary=reason or f"{self.get_kind_display()}: {old} → {new}",
                old=old,
                kind=self.kind,
                platform=self.platform,
                error=self.error[:1000],
            )


class ZendeskTicket(StatusMachine, models.Model):
    """The one Zendesk ticket an escalated case opens, and how opening it went.

    Written in the transaction that approved the escalation, sent by the worker after commit
    (``packets.integrations.zendesk.open_ticket``). ``request`` is the body, built once and sent unchanged
    with the same ``Idempotency-Key`` on every retry, so Zendesk answers a retry of a request it
    already took with the ticket it made.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Sending"
        CREATED = "created", "Open in Zendesk"
        FAILED = "failed", "Failed"

    NOUN = "A Zendesk ticket"
    TRANSITIONS: dict[str, set[str]] = {
        Status.PENDING: {Status.SENDING},
        Status.SENDING: {Status.CREATED, Status.PENDING, Status.FAILED},
        Status.FAILED: {Status.PENDING},
        Status.CREATED: set(),
    }

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="zendesk_ticket")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The escalation."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=100, unique=True)
    request = models.JSONField(encoder=DjangoJSONEncoder, help_text="The body sent, the same on every attempt.")
    response = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    ticket_id = models.BigIntegerField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True, help_text="The ticket in Zendesk's agent interface.")
    error = models.TextField(blank=True, help_text="Zendesk's own words when it refused, or why no answer came.")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="created") | Q(ticket_id__isnull=False), name="zendesk_ticket_created_has_id"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="zendesk_ticket_status_next")]

    def __str__(self) -> str:
        return f"Zendesk ticket {self.ticket_id or '(not yet)'} for case {self.case_id} ({self.status})"

    def set_status(self, new: str, *, actor=None, reason: str = "", **fields) -> None:
        with transaction.atomic():
            old = self._move(new, fields)
            AuditEvent.record(
                f"zendesk.{new}", actor=actor, case=self.case, obj=self, summary=reason or f"{old} → {new}", old=old
            )


def new_webhook_secret() -> str:
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class OutboundSubscription(models.Model):
    """An automation tool's endpoint (Zapier, Make, n8n...) that receives signed event deliveries."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=255, blank=True)
    secret = models.CharField(
        max_length=100, default=new_webhook_secret, help_text="whsec_...: the receiver verifies signatures with it."
    )
    event_types = models.JSONField(default=list, blank=True, help_text="Event types to send; empty sends them all.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["url", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"),  # noqa: S106 (a prefix, not a secret)
                name="outbound_secret_prefixed",
            ),
        ]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return self.active and (not self.event_types or event_type in self.event_types)

    def clean(self) -> None:
        super().clean()
        problem = target_problem(self.url) if self.url else ""
        if problem:
            raise ValidationError({"url": f"Events cannot be sent there: {problem}."})

    @property
    def masked_secret(self) -> str:
        """The secret as shown after creation: its prefix and last four characters."""
        return f"whsec_…{self.secret[-4:]}" if self.secret else "not set"


class OutboundDelivery(models.Model):
    """One event for one subscription, with every attempt's result; the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to send"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Gave up"

    subscription = models.ForeignKey(
        OutboundSubscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event_id = models.CharField(max_length=64, help_text="The webhook-id header: the same on every attempt.")
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text="The body sent, as JSON.")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "outbound deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="outbound_one_delivery_per_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbound_status_next")]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscription_id} ({self.status})"
