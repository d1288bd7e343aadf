from django.urls import path

from . import review_views, views

app_name = "packets"

urlpatterns = [
    path("cases/", views.case_list, name="case-list"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
    # weekly review and supplier follow-up
    path("review/weekly/", review_views.weekly_review, name="review-weekly"),
    path("review/weekly/pdf/", review_views.weekly_review_pdf, name="review-weekly-pdf"),
    path(
        "purchase-orders/<int:purchase_order_id>/approve/",
        review_views.purchase_order_approve,
        name="purchase-order-approve",
    ),
]
