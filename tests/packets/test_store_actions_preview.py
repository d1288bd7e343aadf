"""What the owner reads before approving, and the panel that shows each call before and after."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from packets.models import AuditEvent, Decision, StoreAction
from packets.store_actions import preview
from tests.packets.store_fakes import approve, backorder_case, decision_for


@pytest.mark.django_db
def test_it_previews_a_shopify_cancel_in_plain_words(owner):
    case = backorder_case()
    decision = decision_for(case, Decision.Action.CANCEL, owner)
    assert preview(decision, case) == [
        "Will cancel order #1042 on Shopify, refund $84.20 to the original payment, no restock. "
        "Shopify emails the customer."
    ]


@pytest.mark.django_db
def test_it_previews_store_credit_and_a_released_authorization(owner, policy):
    policy.revise(refund_method="store_credit")
    paid = backorder_case()
    assert "refund $84.20 to store credit" in preview(decision_for(paid, Decision.Action.CANCEL, owner))[0]
    authorized = backorder_case(external_id="9", number="#9", payment_state="authorized")
    line = preview(decision_for(authorized, Decision.Action.CANCEL, owner))[0]
    assert "release the payment authorization (nothing was charged)" in line


@pytest.mark.django_db
def test_it_previews_a_partial_refund_and_a_woocommerce_cancel(owner):
    shopify_case = backorder_case()
    assert preview(decision_for(shopify_case, Decision.Action.REFUND, owner)) == [
        "Will refund $40.00 on order #1042 on Shopify for 2 × Blue Mug (unfulfilled units, not restocked) "
        "to the original payment."
    ]
    woo_case = backorder_case("woocommerce", external_id="727", number="#727")
    assert preview(decision_for(woo_case, Decision.Action.CANCEL, owner)) == [
        "Will set order #727 to cancelled on WooCommerce (this alone refunds nothing).",
        "Will refund $84.20 on order #727 on WooCommerce through the payment gateway for 2 × Blue Mug, "
        "only after the cancellation succeeds (never if it fails).",
    ]


@pytest.mark.django_db
def test_it_says_when_nothing_goes_to_a_store(owner):
    case = backorder_case(channel="csv")
    assert preview(decision_for(case, Decision.Action.REFUND, owner, amount=Decimal("10"))) == [
        "Nothing is sent to a store: order #1042 came from CSV import; refund where the order was taken."
    ]
    assert preview(decision_for(case, Decision.Action.CHASE_SUPPLIER, owner)) == []


@pytest.mark.django_db
def test_it_previews_an_action_row_the_same_way(owner):
    case = backorder_case()
    decision = decision_for(case, Decision.Action.CANCEL, owner)
    lines = preview(decision, case)
    [action] = approve(decision, owner)
    assert preview(action, case) == lines


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 3])
def test_it_shows_the_panel_in_a_fixed_number_of_queries(owner_client, owner, count, django_assert_num_queries):
    case = backorder_case()
    for action in (Decision.Action.CANCEL, Decision.Action.REFUND, Decision.Action.WAIT)[:count]:
        approve(decision_for(case, action, owner), owner)
    StoreAction.objects.filter(case=case).update(status="failed", error="Order cannot be cancelled (INVALID)")
    decision_for(case, Decision.Action.REFUND, owner)  # proposed: previewed
    url = reverse("packets:store-action-panel", args=[case.pk])
    # session, user, groups (role), case; actions (+ decision, approver); proposed decisions; the
    # preview's policy, order lines and our-message-goes-out check; the unfinished-actions check
    with django_assert_num_queries(10):
        response = owner_client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 286  # every action finished: htmx stops polling
    body = response.content.decode()
    assert body.count("Shopify said: Order cannot be cancelled (INVALID)") == count
    assert "If “Refund” is approved:" in body and "Run again" in body


@pytest.mark.django_db
def test_it_lets_only_an_owner_run_a_failed_action_again(client, support, owner, django_capture_on_commit_callbacks):
    case = backorder_case()
    [action] = approve(decision_for(case, Decision.Action.CANCEL, owner), owner)
    StoreAction.objects.filter(pk=action.pk).update(status="failed", error="Shopify: Throttled")
    url = reverse("packets:store-action-retry", args=[action.pk])

    client.force_login(support)
    assert client.post(url).status_code == 403
    assert AuditEvent.objects.filter(action="access.refused", case=case).exists()

    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url)
    assert response.status_code == 302 and len(callbacks) == 1
    action.refresh_from_db()
    assert action.status == "pending" and action.previous_keys and action.attempts == 0


@pytest.mark.django_db
def test_it_declares_its_schedules_in_code():
    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("sync_schedules", verbosity=0)
    call_command("sync_schedules", verbosity=0)
    funcs = list(Schedule.objects.values_list("func", flat=True))
    assert "packets.integrations.outbound.retry_due_deliveries" in funcs
    assert "packets.store_actions.runner.retry_due_actions" in funcs
    assert len(funcs) == len(set(funcs)), "each schedule once, however often it is synced"
