from django.urls import path

from . import review_views, views, views_customer, views_export

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
    # weekly review and supplier follow-up
    path("review/weekly/", review_views.weekly_review, name="review-weekly"),
    path("review/weekly/pdf/", review_views.weekly_review_pdf, name="review-weekly-pdf"),
    path(
        "purchase-orders/<int:purchase_order_id>/approve/",
        review_views.purchase_order_approve,
        name="purchase-order-approve",
    ),
]
