from django.contrib import admin

from .models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierSource, SupplierUpdate


class SupplierSourceInline(admin.TabularInline):
    model = SupplierSource
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "email", "transit_days", "active", "deprioritised"]
    list_filter = ["active", "deprioritised", "country"]
    search_fields = ["name", "code", "email", "contact_name"]
    inlines = [SupplierSourceInline]


@admin.register(SupplierSource)
class SupplierSourceAdmin(admin.ModelAdmin):
    list_display = ["product", "supplier", "role", "unit_cost", "lead_time_days", "active"]
    list_filter = ["role", "active", "supplier"]
    search_fields = ["product__sku", "supplier__name", "supplier_sku"]
    list_select_related = ["product", "supplier"]
    raw_id_fields = ["product"]


@admin.register(SupplierUpdate)
class SupplierUpdateAdmin(admin.ModelAdmin):
    """Supplier evidence: added with its source text, never rewritten afterwards."""

    list_display = [
        "received_at",
        "supplier",
        "product",
        "kind",
        "stock_status",
        "strength",
        "restock_from",
        "restock_to",
    ]
    list_filter = ["kind", "strength", "stock_status", "supplier"]
    search_fields = ["supplier__name", "product__sku", "source_text"]
    list_select_related = ["supplier", "product"]
    raw_id_fields = ["product", "conflicts_with"]

    def has_change_permission(self, request, obj=None):
        return obj is None

    def has_delete_permission(self, request, obj=None):
        return False


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0
    raw_id_fields = ["product"]


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "supplier",
        "status",
        "ordered_at",
        "sent_via",
        "sent_at",
        "confirmed_at",
        "quoted_at",
        "received_at",
    ]
    list_filter = ["status", "supplier"]
    search_fields = ["reference", "supplier__name", "lines__product__sku"]
    list_select_related = ["supplier"]
    inlines = [PurchaseOrderLineInline]
