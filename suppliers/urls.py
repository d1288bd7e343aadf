from django.urls import path

from . import views_receiving

app_name = "suppliers"

urlpatterns: list = [
    # supplier pages, evidence and scorecards are added here
    # purchase order receipts
    path(
        "purchase-orders/<int:purchase_order_id>/receive/",
        views_receiving.purchase_order_receive,
        name="purchase-order-receive",
    ),
    path(
        "purchase-orders/<int:purchase_order_id>/receipts/",
        views_receiving.purchase_order_receipt_create,
        name="purchase-order-receipt-create",
    ),
]
