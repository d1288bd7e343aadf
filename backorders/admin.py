import logging

from django.contrib import admin
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from backorders.formats.phones import read_phone

from .models import (
    ChannelStock,
    Customer,
    Order,
    OrderLine,
    Product,
    Shipment,
    ShopifyLocationLevel,
    StorePolicy,
    TrackingEvent,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence kept as it arrived: visible, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "title", "variant_title", "status", "backorder_mode", "on_hand", "allocated", "price"]
    list_filter = ["status", "backorder_mode", "created_from_unknown_sku"]
    search_fields = ["sku", "title", "variant_title", "shopify_variant_id", "woocommerce_id"]


@admin.register(ShopifyLocationLevel)
class ShopifyLocationLevelAdmin(ReadOnlyAdmin):
    """Shopify's available per location, as its inventory_levels/update deliveries said."""

    list_display = ["product", "location_id", "available", "channel_updated_at"]
    list_select_related = ["product"]
    search_fields = ["product__sku", "inventory_item_id", "location_id"]


@admin.register(ChannelStock)
class ChannelStockAdmin(ReadOnlyAdmin):
    """Per product and channel: what the channel reports, and the desk's number sent to it."""

    list_display = ["product", "platform", "channel_available", "wanted", "pushed", "status", "attempts", "pushed_at"]
    list_filter = ["platform", "status"]
    list_select_related = ["product"]
    search_fields = ["product__sku"]
    readonly_fields = ["request", "response", "error"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "phone", "phone_unreadable", "preferred_channel", "orders_count"]
    list_filter = ["preferred_channel", "sms_opt_in", "phone_unreadable"]
    search_fields = ["name", "email", "phone"]
    readonly_fields = ["phone_unreadable"]

    def save_model(self, request, obj, form, change):
        """A phone typed here is read into E.164 as at intake (or kept as typed and flagged)."""
        if "phone" in form.changed_data or not change:
            reading = read_phone(obj.phone)
            obj.phone, obj.phone_unreadable = reading.phone, reading.unreadable
        super().save_model(request, obj, form, change)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ["product"]


class ShipmentInline(admin.TabularInline):
    model = Shipment
    extra = 0
    fields = ["carrier", "tracking_number", "status", "last_scan_at"]
    readonly_fields = ["status", "last_scan_at"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "channel", "customer", "placed_at", "status", "payment_state", "total"]
    list_filter = ["channel", "status", "payment_state", "express"]
    search_fields = ["number", "external_id", "customer__email", "customer__name", "lines__sku"]
    date_hierarchy = "placed_at"
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    inlines = [OrderLineInline, ShipmentInline]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["order", "sku", "quantity", "allocated", "shipped", "state"]
    list_filter = ["state"]
    search_fields = ["order__number", "sku", "product__sku"]
    list_select_related = ["order", "product"]
    raw_id_fields = ["order", "product"]


class TrackingEventInline(admin.TabularInline):
    model = TrackingEvent
    extra = 0
    can_delete = False
    readonly_fields = ["status", "raw_status", "message", "location", "occurred_at", "source"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["tracking_number", "carrier", "order", "status", "label_created_at", "last_scan_at"]
    list_filter = ["status", "carrier", "shipped_by"]
    search_fields = ["tracking_number", "order__number"]
    list_select_related = ["order"]
    raw_id_fields = ["order"]
    inlines = [TrackingEventInline]


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyAdmin):
    list_display = ["shipment", "status", "raw_status", "location", "occurred_at", "source"]
    list_filter = ["status", "source"]
    search_fields = ["shipment__tracking_number", "raw_status", "location"]
    list_select_related = ["shipment"]


@admin.register(StorePolicy)
class StorePolicyAdmin(admin.ModelAdmin):
    """Saving a change makes a new version; earlier versions stay as packets quoted them. The cadence
    wording is written on the owner's wording page, where its checks run (``/policy/wording/``)."""

    list_display = ["version", "created_at", "created_by", "note"]
    readonly_fields = ["version", "created_at", "created_by", "cadence_wording"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            revised = StorePolicy.objects.get(pk=obj.pk).revise(user=request.user, **changes)
            obj.pk, obj.version = revised.pk, revised.version
        else:
            latest = StorePolicy.objects.order_by("-version").first()
            obj.version = (latest.version + 1) if latest else 1
            obj.created_by = request.user
            obj.save()


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "source", "topic", "status", "signature_valid", "body_size", "resource_id", "error"]
    actions = ["dismiss_failed"]
    list_filter = ["source", "status", "signature_valid", "topic"]
    search_fields = ["delivery_id", "resource_id", "body_sha256", "error", "waiting_for"]
    exclude = ["body"]
    readonly_fields = ["body_text"]

    @admin.display(description="Body")
    def body_text(self, obj):
        return bytes(obj.body).decode("utf-8", errors="replace")

    @admin.action(description="Dismiss the selected failed deliveries (they are then pruned with the rest)")
    def dismiss_failed(self, request, queryset):
        note = f"\nDismissed by {request.user.get_username()} on {timezone.now():%Y-%m-%d %H:%M} UTC."
        count = queryset.filter(status=WebhookDelivery.Status.FAILED).update(
            status=WebhookDelivery.Status.DISMISSED, error=Concat(F("error"), Value(note))
        )
        logger.info("%s dismissed %s failed webhook deliveries", request.user.get_username(), count)
        self.message_user(request, f"Dismissed {count} failed deliveries; others were left as they were.")
