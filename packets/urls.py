from django.urls import path

from . import views, views_customer

app_name = "packets"

urlpatterns = [
    path("cases/", views.case_list, name="case-list"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
    # Customer page (signed link, no login)
    path("o/<str:token>/", views_customer.customer_order, name="customer-order"),
    path("o/<str:token>/cancel/", views_customer.customer_cancel, name="customer-cancel"),
]
