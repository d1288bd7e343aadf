from django.urls import path

from . import views_stock

app_name = "backorders"

urlpatterns: list = [
    # webhooks, CSV upload and stock pages are added here
    # stock allocation review
    path("stock/allocations/", views_stock.allocation_list, name="stock-allocation-list"),
    path("stock/allocations/<int:allocation_id>/", views_stock.allocation_detail, name="stock-allocation-detail"),
    path(
        "stock/allocations/<int:allocation_id>/approve/",
        views_stock.allocation_approve,
        name="stock-allocation-approve",
    ),
]
