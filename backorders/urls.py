from django.urls import path

from . import views, views_stock
from .intake import generic, platform_views

app_name = "backorders"

urlpatterns = [
    path("webhooks/shopify/", views.shopify_webhook, name="webhook-shopify"),
    path("webhooks/woocommerce/", views.woocommerce_webhook, name="webhook-woocommerce"),
    path("webhooks/carriers/<slug:provider>/", views.carrier_webhook, name="webhook-carrier"),
    path("webhooks/shipstation/", platform_views.shipstation_webhook, name="webhook-shipstation"),
    path("webhooks/bigcommerce/", platform_views.bigcommerce_webhook, name="webhook-bigcommerce"),
    # Generic intake: any system, signed per Standard Webhooks
    path("webhooks/generic/", generic.webhook, name="webhook-generic"),
    path("imports/", views.import_list, name="import-list"),
    path("imports/<int:job_id>/", views.import_detail, name="import-detail"),
    path("imports/<int:job_id>/report.csv", views.import_report, name="import-report"),
    # stock allocation review
    path("stock/allocations/", views_stock.allocation_list, name="stock-allocation-list"),
    path("stock/allocations/<int:allocation_id>/", views_stock.allocation_detail, name="stock-allocation-detail"),
    path(
        "stock/allocations/<int:allocation_id>/approve/",
        views_stock.allocation_approve,
        name="stock-allocation-approve",
    ),
]
