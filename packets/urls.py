from django.urls import path

from . import views

app_name = "packets"

urlpatterns = [
    path("cases/", views.case_list, name="case-list"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
]
