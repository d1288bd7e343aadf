from django.urls import path

from . import views, views_connections, views_customer, views_export, views_store_actions

app_name = "packets"

urlpatterns = [
    path("cases/", views.case_list, name="case-list"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
    # Customer page (signed link, no login)
    path("o/<str:token>/", views_customer.customer_order, name="customer-order"),
    path("o/<str:token>/cancel/", views_customer.customer_cancel, name="customer-cancel"),
    # PDF export and audit bundles
    path("cases/<int:case_id>/packet.pdf", views_export.case_pdf, name="case-pdf"),
    path("exports/", views_export.bundle_list, name="bundle-list"),
    path("exports/new/", views_export.bundle_create, name="bundle-create"),
    path("exports/<int:job_id>/", views_export.bundle_detail, name="bundle-detail"),
    path("exports/<int:job_id>/progress/", views_export.bundle_progress, name="bundle-progress"),
    path("exports/<int:job_id>/download/", views_export.bundle_download, name="bundle-download"),
    # Acting on the store, and the owner's connections page
    path("cases/<int:case_id>/store-actions/", views_store_actions.store_action_panel, name="store-action-panel"),
    path("store-actions/<int:action_id>/retry/", views_store_actions.store_action_retry, name="store-action-retry"),
    path("connections/", views_connections.connection_list, name="connections"),
    path("connections/<slug:name>/test/", views_connections.connection_test, name="connection-test"),
]
