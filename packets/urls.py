from django.urls import path

from . import views

app_name = "packets"

urlpatterns = [
    # the queue, the packet page and what people do there
    path("cases/", views.case_list, name="case-list"),
    path("cases/bulk/", views.case_bulk, name="case-bulk"),
    path("cases/drafts/", views.draft_list, name="draft-list"),
    path("cases/drafts/approve/", views.draft_bulk_approve, name="draft-bulk-approve"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
    path("cases/<int:case_id>/decide/", views.case_decide, name="case-decide"),
    path("cases/<int:case_id>/outcome/", views.case_outcome, name="case-outcome"),
    path("cases/<int:case_id>/assign/", views.case_assign, name="case-assign"),
    path("cases/decisions/<int:decision_id>/approve/", views.decision_approve, name="decision-approve"),
    path("cases/decisions/<int:decision_id>/reject/", views.decision_reject, name="decision-reject"),
    path("cases/messages/<int:message_id>/approve/", views.message_approve, name="message-approve"),
]
