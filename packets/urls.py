from django.urls import path

from . import views
from .integrations import zendesk_comments
from .integrations.slack import interactions as slack_interactions
from .notify import email_tracking, inbound_webhooks
from .views import compose as views_compose
from .views import connections as views_connections
from .views import customer as views_customer
from .views import draft_reply as views_draft_reply
from .views import export as views_export
from .views import products as views_products
from .views import replies as views_replies
from .views import review as review_views
from .views import routine as views_routine
from .views import store_actions as views_store_actions
from .views import wording as views_wording

app_name = "packets"

urlpatterns = [
    # the queue, the packet page and what people do there
    path("cases/", views.case_list, name="case-list"),
    path("cases/bulk/", views.case_bulk, name="case-bulk"),
    path("cases/routine/", views_routine.routine_list, name="routine-list"),
    path("cases/routine/accept/", views_routine.routine_accept_all, name="routine-accept-all"),
    path("cases/drafts/", views.draft_list, name="draft-list"),
    path("cases/drafts/approve/", views.draft_bulk_approve, name="draft-bulk-approve"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
    path("cases/<int:case_id>/decide/", views.case_decide, name="case-decide"),
    path("cases/<int:case_id>/accept/", views_routine.case_accept, name="case-accept"),
    path("cases/<int:case_id>/outcome/", views.case_outcome, name="case-outcome"),
    path("cases/<int:case_id>/assign/", views.case_assign, name="case-assign"),
    path("cases/<int:case_id>/draft-reply/", views_draft_reply.case_draft_reply, name="case-draft-reply"),
    path("cases/decisions/<int:decision_id>/approve/", views.decision_approve, name="decision-approve"),
    path("cases/decisions/<int:decision_id>/reject/", views.decision_reject, name="decision-reject"),
    path("cases/messages/<int:message_id>/approve/", views.message_approve, name="message-approve"),
    # customer replies no case matched, for a person to attach
    path("cases/messages/<int:message_id>/edit/", views_compose.message_edit, name="message-edit"),
    path("cases/messages/<int:message_id>/check/", views_compose.message_check, name="message-check"),
    path("cases/<int:case_id>/reply/", views_compose.case_reply, name="case-reply"),
    path("cases/<int:case_id>/reply/check/", views_compose.case_reply_check, name="case-reply-check"),
    path("cases/<int:case_id>/offer/", views_compose.case_draft_offer, name="case-draft-offer"),
    path("replies/unmatched/", views_replies.unmatched_replies, name="unmatched-replies"),
    path("replies/<int:mail_id>/attach/", views_replies.attach_reply, name="reply-attach"),
    # Customer page (signed link, no login)
    path("o/<str:token>/", views_customer.customer_order, name="customer-order"),
    path("o/<str:token>/cancel/", views_customer.customer_cancel, name="customer-cancel"),
    path("o/<str:token>/choose/", views_customer.customer_choose, name="customer-choose"),
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
    path(
        "purchase-orders/<int:purchase_order_id>/confirm/",
        review_views.purchase_order_confirm,
        name="purchase-order-confirm",
    ),
    path(
        "purchase-orders/<int:purchase_order_id>/submitted/",
        review_views.purchase_order_submitted,
        name="purchase-order-submitted",
    ),
    # Acting on the store, and the owner's connections page
    path("cases/<int:case_id>/store-actions/", views_store_actions.store_action_panel, name="store-action-panel"),
    path("store-actions/<int:action_id>/retry/", views_store_actions.store_action_retry, name="store-action-retry"),
    # the owner's wording of the cadence steps
    path("policy/wording/", views_wording.wording_list, name="policy-wording"),
    path("policy/wording/<slug:step>/", views_wording.wording_edit, name="policy-wording-edit"),
    path("policy/wording/<slug:step>/check/", views_wording.wording_check, name="policy-wording-check"),
    path("products/<int:product_id>/", views_products.product_detail, name="product-detail"),
    path("products/<int:product_id>/store/", views_products.product_store_action, name="product-store-action"),
    path("products/<int:product_id>/stock/retry/", views_products.product_stock_retry, name="product-stock-retry"),
    path("connections/", views_connections.connection_list, name="connections"),
    path("connections/<slug:name>/test/", views_connections.connection_test, name="connection-test"),
    # email providers' delivery reports, at django-anymail's tracking webhook URLs
    path("anymail/<slug:provider>/tracking/", email_tracking.tracking_webhook, name="email-tracking"),
    # customers' email replies, at django-anymail's inbound webhook URLs (Mailgun also inbound_mime/)
    path("anymail/<slug:provider>/inbound/", inbound_webhooks.inbound_webhook, name="email-inbound"),
    # comments on escalated cases' Zendesk tickets (signed Zendesk webhook)
    path("webhooks/zendesk/", zendesk_comments.comment_webhook, name="webhook-zendesk"),
    # buttons pressed on the owner's Slack alerts (Slack's interactivity, signed with the signing secret)
    path("integrations/slack/interactions/", slack_interactions.interaction_endpoint, name="slack-interactions"),
    path(
        "anymail/mailgun/inbound_mime/",
        inbound_webhooks.inbound_webhook,
        {"provider": "mailgun"},
        name="email-inbound-mailgun-mime",
    ),
]
