from django.urls import path

from . import views

app_name = "suppliers"

urlpatterns = [
    path("suppliers/", views.supplier_list, name="supplier-list"),
    path("suppliers/<int:supplier_id>/", views.supplier_detail, name="supplier-detail"),
    path("suppliers/<int:supplier_id>/evidence/", views.evidence_create, name="evidence-create"),
]
