from django.urls import path

from . import views, views_receiving

app_name = "suppliers"

urlpatterns = [
    path("suppliers/", views.supplier_list, name="supplier-list"),
    path("suppliers/<int:supplier_id>/", views.supplier_detail, name="supplier-detail"),
    path("suppliers/<int:supplier_id>/evidence/", views.evidence_create, name="evidence-create"),
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
