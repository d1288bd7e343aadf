"""The owner's rules: the versioned store policy."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from .common import PartialShipment


def default_cadence() -> list[dict]:
    return [
        {"key": "confirmation", "after_hours": 0, "label": "Backorder confirmation"},
        {"key": "update_48h", "after_hours": 48, "label": "48-hour update"},
        {"key": "update_day7", "after_hours": 168, "label": "Day 7 update"},
        {
            "key": "update_day14",
            "after_hours": 336,
            "label": "Day 14 update, offers cancellation",
            "offer_cancel": True,
        },
    ]


def default_forbidden_phrases() -> list[str]:
    return [
        "we apologize for the inconvenience",
        "guaranteed",
        "will definitely",
        "ships tomorrow",
        "in stock soon",
    ]


def default_allowed_wording() -> list[str]:
    return [
        "We expect it to ship between {start} and {end}.",
        "Our supplier has not confirmed a date yet; we will write again by {next_update}.",
        "You can cancel at no cost at any time before it ships.",
    ]


def default_priority_classes() -> list[str]:
    return ["vip", "contract", "express", "standard"]


class StorePolicyQuerySet(models.QuerySet):
    def current(self) -> StorePolicy:
        policy = self.order_by("-version").first()
        if policy is None:
            # two processes may both find none: get_or_create turns the loser's IntegrityError into a read
            policy, _ = StorePolicy.objects.get_or_create(version=1, defaults={"note": "Defaults"})
        return policy


class StorePolicy(models.Model):
    """The owner's written rules. Versions are never edited: a change makes a new version, and a
    packet records the version it was built with, so an audit can quote the rule that applied."""

    class RefundMethod(models.TextChoices):
        ORIGINAL = "original", "Original payment method"
        STORE_CREDIT = "store_credit", "Store credit"

    version = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=255, blank=True)

    # stock thresholds, in available units (on hand minus allocated)
    stock_watch_at = models.IntegerField(default=5, help_text="Watch a product at or below this many free units.")
    stock_urgent_at = models.IntegerField(default=2, help_text="Urgent at or below this many free units.")
    stock_paused_at = models.IntegerField(default=0, help_text="Suggest pausing sales at or below this many.")
    owner_only_waiting_units = models.PositiveIntegerField(
        default=20, help_text="A product with this many units waiting is the owner's call alone."
    )

    # tracking clocks, in business days unless named otherwise
    no_pickup_business_days = models.PositiveSmallIntegerField(default=4)
    no_scan_domestic_business_days = models.PositiveSmallIntegerField(default=3)
    no_scan_international_business_days = models.PositiveSmallIntegerField(default=5)
    expired_after_days = models.PositiveSmallIntegerField(default=30, help_text="Calendar days with no tracking data.")
    supplier_silence_business_days = models.PositiveSmallIntegerField(default=3)
    business_days = models.JSONField(default=list, blank=True, help_text="Weekday numbers, Monday=0; empty = Mon–Fri.")
    holidays = models.JSONField(default=list, blank=True, help_text="ISO dates that are not business days.")

    # customer messages
    cadence = models.JSONField(default=default_cadence)
    standing_approvals = models.JSONField(
        default=list, blank=True, help_text="Cadence step keys the owner approved in advance (when evidence agrees)."
    )
    forbidden_phrases = models.JSONField(default=default_forbidden_phrases)
    allowed_wording = models.JSONField(default=default_allowed_wording)
    cadence_wording = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "The owner's wording per cadence step key and variant (default, vip, first_order, alternative): "
            '{"update_48h": {"default": {"subject": "", "email": "", "sms": ""}}}; empty = the built-in text.'
        ),
    )
    faq_url = models.URLField(blank=True, help_text="The store's FAQ page, linked in first-time buyers' messages.")
    email_word_limit = models.PositiveSmallIntegerField(default=150)
    sms_word_limit = models.PositiveSmallIntegerField(default=50)

    # money and escalation
    money_boundary = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("150.00"), help_text="Above this, the owner decides."
    )
    replacement_boundary = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("15.00"),
        help_text="A replacement costing more than this above the original needs the owner.",
    )
    high_value_order = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("250.00"))
    vip_min_orders = models.PositiveSmallIntegerField(default=3)
    escalate_negative_sentiment = models.BooleanField(default=True)
    escalate_below_sentiment = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("-0.50"), help_text="VADER compound score."
    )
    refund_method = models.CharField(max_length=16, choices=RefundMethod.choices, default=RefundMethod.ORIGINAL)
    stop_selling_drafts_product = models.BooleanField(
        default=False,
        help_text="Stopping sales on Shopify also sets the product to draft (hidden from the shop); resuming "
        "sets it active again.",
    )
    # reply deadlines: how long a customer who wrote may wait for a person's answer
    reply_first_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Hours to answer a customer's first message on a case."
    )
    reply_followup_hours = models.PositiveSmallIntegerField(
        default=48, help_text="Hours to answer each later message on the case."
    )

    # allocation
    partial_shipment_default = models.CharField(
        max_length=16, choices=PartialShipment.choices, default=PartialShipment.SHIP_AVAILABLE
    )
    priority_classes = models.JSONField(default=default_priority_classes)
    auto_apply_allocation = models.BooleanField(
        default=True, help_text="When supply covers every waiting line, allocate without asking."
    )
    eta_coverage = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.90"))
    long_eta_days = models.PositiveSmallIntegerField(
        default=30,
        help_text=(
            "An estimate that ends more than this many days out puts the case before the owner, and the "
            "customer's message offers cancellation up front."
        ),
    )

    objects = StorePolicyQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "store policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(stock_paused_at__lte=F("stock_urgent_at")) & Q(stock_urgent_at__lte=F("stock_watch_at")),
                name="policy_thresholds_ordered",
            ),
            models.CheckConstraint(
                condition=Q(eta_coverage__gt=0) & Q(eta_coverage__lt=1), name="policy_eta_coverage_fraction"
            ),
            models.CheckConstraint(condition=Q(money_boundary__gte=0), name="policy_money_boundary_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Policy v{self.version}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("A StorePolicy version is never edited; call revise() to make a new version.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Policy versions are kept for audits and cannot be deleted.")

    @transaction.atomic
    def revise(self, *, user=None, note: str = "", **changes) -> StorePolicy:
        """Make the next version with ``changes`` applied; this version stays as it was."""
        latest = StorePolicy.objects.select_for_update().order_by("-version").first()
        new = StorePolicy.objects.get(pk=self.pk)
        new.pk = None
        new._state.adding = True  # a fresh row: save() refuses to edit a stored version
        new.version = latest.version + 1
        new.created_at = timezone.now()
        new.created_by = user
        new.note = note
        for name, value in changes.items():
            if not hasattr(new, name) or name in {"id", "version"}:
                raise ValueError(f"StorePolicy has no editable field {name!r}")
            setattr(new, name, value)
        new.full_clean()
        new.save()
        return new

    @property
    def working_weekdays(self) -> list[int]:
        return list(self.business_days) or [0, 1, 2, 3, 4]

    def rule_text(self) -> dict[str, str]:
        """The rules in words, as a packet quotes them."""
        return {
            "stock": (
                f"Watch at {self.stock_watch_at} free units or fewer, urgent at {self.stock_urgent_at}, "
                f"suggest a pause at {self.stock_paused_at}; {self.owner_only_waiting_units}+ units waiting "
                f"is the owner's call."
            ),
            "tracking": (
                f"No carrier pickup after {self.no_pickup_business_days} business days; no scan for "
                f"{self.no_scan_domestic_business_days} business days domestic or "
                f"{self.no_scan_international_business_days} international; no tracking data for "
                f"{self.expired_after_days} days is expired."
            ),
            "supplier": f"A supplier silent for {self.supplier_silence_business_days} business days is chased.",
            "money": (
                f"Refunds, cancellations, supplier switches, replacements and anything over "
                f"{self.money_boundary} need the owner; replacements up to {self.replacement_boundary} above the "
                f"original price are routine."
            ),
            "customers": (
                f"VIP from {self.vip_min_orders} previous orders; orders over {self.high_value_order} are "
                f"high value; messages stay under {self.email_word_limit} words by email and "
                f"{self.sms_word_limit} by SMS and give date ranges, never exact dates."
            ),
            "allocation": (
                f"Restocked units go first-in first-out within the classes {', '.join(self.priority_classes)}; "
                f"partial shipments: {self.get_partial_shipment_default_display().lower()}."
            ),
        }
