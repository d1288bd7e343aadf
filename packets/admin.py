from django.contrib import admin, messages

from .models import (
    AuditEvent,
    Case,
    Decision,
    InboundMessage,
    Message,
    Outcome,
    Packet,
    SlackInteraction,
    SlackLink,
    SlackPost,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PacketInline(admin.TabularInline):
    model = Packet
    extra = 0
    fields = ["version", "created_at", "recommendation", "evidence_strength", "risk_level", "policy"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "kind", "category", "status", "risk_level", "assignee", "opened_at"]
    list_filter = ["kind", "category", "status", "risk_level", "promise_at_risk"]
    search_fields = ["title", "order__number", "product__sku", "order__customer__email", "shipment__tracking_number"]
    list_select_related = ["assignee"]
    raw_id_fields = ["order", "product", "shipment", "supplier"]
    readonly_fields = ["status", "dedupe_key", "risk_rank", "opened_at", "resolved_at"]
    inlines = [PacketInline]


@admin.register(Packet)
class PacketAdmin(ReadOnlyAdmin):
    list_display = ["case", "version", "created_at", "recommendation", "evidence_strength", "risk_level"]
    list_filter = ["recommendation", "evidence_strength", "risk_level"]
    search_fields = ["case__title", "content_sha256"]
    list_select_related = ["case"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["case", "action", "status", "decided_by", "approved_by", "decided_at"]
    list_filter = ["action", "status"]
    search_fields = ["case__title", "note"]
    list_select_related = ["case", "decided_by", "approved_by"]


@admin.register(Outcome)
class OutcomeAdmin(ReadOnlyAdmin):
    list_display = ["case", "kind", "recorded_by", "recorded_at"]
    list_filter = ["kind"]
    search_fields = ["case__title", "note"]
    list_select_related = ["case", "recorded_by"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "channel", "audience", "to", "step", "status", "attempts", "possible_duplicate"]
    list_filter = ["channel", "audience", "status", "step", "possible_duplicate"]
    search_fields = ["to", "subject", "body", "idempotency_key", "provider_id"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "from_address", "channel", "sentiment", "escalated"]
    list_filter = ["channel", "escalated"]
    search_fields = ["from_address", "subject", "body"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "case", "summary"]
    list_filter = ["action"]
    search_fields = ["actor_label", "action", "summary", "object_id"]
    date_hierarchy = "at"


# --------------------------------------------------------------------------- store actions and outbound events

from .models import OutboundDelivery, OutboundSubscription, StoreAction  # noqa: E402
from .models.integrations import new_webhook_secret  # noqa: E402


@admin.register(StoreAction)
class StoreActionAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "kind", "platform", "status", "attempts", "approved_by", "created_at", "finished_at"]
    list_filter = ["status", "kind", "platform"]
    search_fields = ["case__title", "order__number", "idempotency_key", "external_ref", "error"]
    list_select_related = ["case", "approved_by"]


@admin.register(OutboundSubscription)
class OutboundSubscriptionAdmin(admin.ModelAdmin):
    """The signing secret is generated on creation and shown once, in the page that follows; after
    that only its last four characters are (a new one can be generated, and is shown once too)."""

    list_display = ["url", "description", "active", "event_types", "last_success_at", "last_error_at"]
    list_filter = ["active"]
    readonly_fields = ["secret_shown", "created_at", "last_success_at", "last_error", "last_error_at", "delivery_log"]
    fields = ["url", "description", "event_types", "active", *readonly_fields]
    actions = ["new_secret"]

    @admin.display(description="Signing secret")
    def secret_shown(self, obj):
        if obj.pk is None:
            return "Generated when you save; shown once, then only its last four characters."
        return f"{obj.masked_secret} (shown in full only once; use “Generate a new signing secret” to replace it)"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self._show_once(request, obj)

    def _show_once(self, request, obj):
        self.message_user(
            request,
            f"Signing secret for {obj.url}: {obj.secret} (copy it now into the receiving tool: it is not shown again).",
            messages.WARNING,
        )

    @admin.action(description="Generate a new signing secret (shown once)")
    def new_secret(self, request, queryset):
        for subscription in queryset:
            subscription.secret = new_webhook_secret()
            subscription.save(update_fields=["secret"])
            self._show_once(request, subscription)

    @admin.display(description="Delivery log")
    def delivery_log(self, obj):
        from django.urls import reverse
        from django.utils.html import format_html

        if obj.pk is None:
            return "—"
        url = reverse("admin:packets_outbounddelivery_changelist") + f"?subscription__id__exact={obj.pk}"
        return format_html('<a href="{}">Every delivery to this endpoint</a>', url)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "event_types":
            from packets.integrations.outbound import EVENT_TYPES

            field.help_text = "A JSON list of event types; [] sends every type. Types: " + ", ".join(EVENT_TYPES)
        return field


@admin.register(OutboundDelivery)
class OutboundDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "subscription",
        "event_type",
        "status",
        "attempts",
        "response_status",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type", "subscription"]
    search_fields = ["event_id", "error"]
    list_select_related = ["subscription"]
    actions = ["send_again"]

    @admin.action(description="Send the selected deliveries again (same webhook-id)")
    def send_again(self, request, queryset):
        from packets.integrations.outbound import send_again

        for delivery in queryset:
            send_again(delivery.pk)
        self.message_user(request, f"{queryset.count()} deliveries queued again.")


@admin.register(SlackPost)
class SlackPostAdmin(ReadOnlyAdmin):
    list_display = ["id", "method", "case", "status", "attempts", "error", "created_at", "closed_at"]
    list_filter = ["method", "status"]
    search_fields = ["case__title", "error", "ts"]
    list_select_related = ["case"]


@admin.register(SlackInteraction)
class SlackInteractionAdmin(ReadOnlyAdmin):
    list_display = ["id", "slack_user_id", "user", "case", "status", "retries_seen", "received_at", "outcome"]
    list_filter = ["status"]
    search_fields = ["slack_user_id", "outcome"]
    list_select_related = ["user", "case"]


@admin.register(SlackLink)
class SlackLinkAdmin(ReadOnlyAdmin):
    """Links are made with ``manage.py link_slack_user`` (checked and audited); shown here, and removable."""

    list_display = ["user", "slack_user_id", "linked_at"]
    search_fields = ["user__username", "slack_user_id"]
    list_select_related = ["user"]

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
