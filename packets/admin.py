from django.contrib import admin

from .models import AuditEvent, Case, Decision, InboundMessage, Message, Outcome, Packet


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
