"""Deciding on a case: who may do what, where the case goes, and the audit trail it leaves."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from backorders.models import Product
from packets import decisions as verbs
from packets.models import AuditEvent, Case, Decision, Message, Outcome
from tests import factories
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = pytest.mark.django_db


def soon():
    return timezone.now() + timedelta(days=2)


def actions_logged(case) -> list[str]:
    return list(AuditEvent.objects.filter(case=case).order_by("id").values_list("action", flat=True))


def test_it_lets_the_owner_wait_with_a_check_date_and_audits_every_step(owner):
    case, packet = case_with_packet()
    check = soon()

    decision = verbs.decide(case.pk, owner, action="wait", note="Supplier gave a range", next_check_at=check)

    assert decision.status == Decision.Status.APPROVED
    assert decision.packet == packet and decision.approved_by == owner and decision.approved_at is not None
    case.refresh_from_db()
    assert case.status == Case.Status.WAITING and case.next_check_at == check
    # a wait on a Shopify order also plans a fulfilment hold and a tag on the store
    assert actions_logged(case) == ["decision.made", "decision.approved", "case.status", "store_action.planned"]


@pytest.mark.parametrize("when", [None, "past"])
def test_it_refuses_a_wait_without_a_future_check_date(owner, when):
    case, _ = case_with_packet()
    check = timezone.now() - timedelta(hours=1) if when == "past" else None
    with pytest.raises(ValidationError):
        verbs.decide(case.pk, owner, action="wait", note="x", next_check_at=check)
    assert not Decision.objects.exists() and not AuditEvent.objects.filter(case=case).exists()


def test_it_asks_for_a_note(owner):
    case, _ = case_with_packet()
    with pytest.raises(ValidationError, match="note"):
        verbs.decide(case.pk, owner, action="chase_supplier", note="  ")


@pytest.mark.parametrize("action", sorted(Decision.OWNER_ONLY_ACTIONS))
def test_it_keeps_owner_only_actions_proposed_when_support_decides(support, action):
    case, _ = case_with_packet()

    decision = verbs.decide(case.pk, support, action=action, note="Customer asked twice")

    assert decision.status == Decision.Status.PROPOSED and decision.approved_by is None
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_OWNER
    assert actions_logged(case) == ["decision.proposed", "case.status"]


def test_it_treats_an_amount_over_the_money_boundary_as_the_owners_call(support, policy):
    case, _ = case_with_packet()
    over = policy.money_boundary + Decimal("0.01")

    decision = verbs.decide(case.pk, support, action="message_customer", note="Goodwill credit", amount=over)

    assert decision.status == Decision.Status.PROPOSED
    other, _ = case_with_packet()  # one decision per packet version: another case
    within = verbs.decide(
        other.pk, support, action="message_customer", note="Small credit", amount=policy.money_boundary
    )
    assert within.status == Decision.Status.APPROVED


def test_it_lets_support_do_routine_actions_at_once(support):
    case, _ = case_with_packet()
    decision = verbs.decide(case.pk, support, action="chase_supplier", note="Emailed Northwind")
    assert decision.status == Decision.Status.APPROVED and decision.approved_by == support
    case.refresh_from_db()
    assert case.status == Case.Status.ACTIONED


def test_it_lets_only_the_owner_approve_a_proposal(owner, support):
    case, _ = case_with_packet()
    proposal = verbs.decide(case.pk, support, action="refund", note="Refund the mugs", amount=Decimal("48.00"))

    with pytest.raises(PermissionDenied):
        verbs.approve_decision(proposal.pk, support)
    proposal.refresh_from_db()
    assert proposal.status == Decision.Status.PROPOSED

    verbs.approve_decision(proposal.pk, owner)

    proposal.refresh_from_db()
    case.refresh_from_db()
    assert proposal.status == Decision.Status.APPROVED and proposal.approved_by == owner
    assert case.status == Case.Status.ACTIONED
    assert actions_logged(case)[-3:] == ["decision.approved", "case.status", "store_action.planned"]
    with pytest.raises(ValidationError, match="already approved"):
        verbs.approve_decision(proposal.pk, owner)


def test_it_sends_the_case_back_to_the_queue_when_the_owner_rejects(owner, support):
    case, _ = case_with_packet()
    proposal = verbs.decide(case.pk, support, action="cancel", note="Cancel it")

    with pytest.raises(PermissionDenied):
        verbs.reject_decision(proposal.pk, support)
    verbs.reject_decision(proposal.pk, owner, "Wait for the restock instead")

    proposal.refresh_from_db()
    case.refresh_from_db()
    assert proposal.status == Decision.Status.REJECTED
    assert case.status == Case.Status.OPEN
    assert "decision.rejected" in actions_logged(case)


def test_it_pauses_the_product_when_pausing_is_approved(owner):
    product = factories.ProductFactory()
    case, _ = case_with_packet(product=product)

    verbs.decide(case.pk, owner, action="pause_product", note="Stop selling until restock")

    product.refresh_from_db()
    case.refresh_from_db()
    assert product.status == Product.Status.PAUSED
    assert case.status == Case.Status.ACTIONED
    assert "product.paused" in actions_logged(case)


def test_it_refuses_to_pause_when_the_case_has_no_product(owner):
    case, _ = case_with_packet()
    with pytest.raises(ValidationError, match="nothing to pause"):
        verbs.decide(case.pk, owner, action="pause_product", note="x")
    assert not Decision.objects.exists()


def test_it_hands_an_escalated_case_to_the_owner(support):
    case, _ = case_with_packet()
    verbs.decide(case.pk, support, action="escalate", note="Customer threatens a chargeback")
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_OWNER


def test_it_refuses_a_decision_on_a_packet_that_changed_meanwhile(owner):
    case, _ = case_with_packet()
    factories.PacketFactory(case=case, version=2, content=contract_content())

    with pytest.raises(ValidationError, match="now version 2"):
        verbs.decide(case.pk, owner, action="chase_supplier", note="x", packet_version=1)

    decision = verbs.decide(case.pk, owner, action="chase_supplier", note="x", packet_version=2)
    assert decision.packet.version == 2


def test_it_refuses_decisions_on_a_case_without_a_packet_or_a_resolved_case(owner):
    bare = factories.CaseFactory()
    with pytest.raises(ValidationError, match="no packet"):
        verbs.decide(bare.pk, owner, action="chase_supplier", note="x")
    case, _ = case_with_packet(status=Case.Status.RESOLVED, resolved_at=timezone.now())
    with pytest.raises(ValidationError, match="resolved"):
        verbs.decide(case.pk, owner, action="chase_supplier", note="x")


def test_it_refuses_people_without_a_role(outsider):
    case, _ = case_with_packet()
    with pytest.raises(PermissionDenied):
        verbs.decide(case.pk, outsider, action="chase_supplier", note="x")
    with pytest.raises(PermissionDenied):
        verbs.record_outcome(case.pk, outsider, kind="customer_updated")


def test_it_records_outcomes_from_support(support):
    case, _ = case_with_packet()
    outcome = verbs.record_outcome(case.pk, support, kind=Outcome.Kind.SUPPLIER_CHASED, note="Called them")
    assert outcome.recorded_by == support and outcome.case == case
    assert actions_logged(case) == ["outcome.recorded"]
    with pytest.raises(ValidationError):
        verbs.record_outcome(case.pk, support, kind="teleported")


def test_it_assigns_only_to_staff(owner, support, outsider):
    case, _ = case_with_packet()
    verbs.assign(case.pk, owner, support.pk)
    case.refresh_from_db()
    assert case.assignee == support
    with pytest.raises(ValidationError):
        verbs.assign(case.pk, owner, outsider.pk)
    verbs.assign(case.pk, owner, None)
    case.refresh_from_db()
    assert case.assignee is None
    assert actions_logged(case) == ["case.assigned", "case.assigned"]


def test_it_accepts_recommendations_in_bulk_only_on_routine_cases(support):
    routine, _ = case_with_packet()
    weak, _ = case_with_packet(contract_content(evidence={"strength": "weak", "uncertainty": ["Vague"]}))
    refund_content = contract_content(recommendation={"action": "refund", "reason": "Long wait"})
    owners_call, _ = case_with_packet(refund_content)
    chargeback, _ = case_with_packet(contract_content(risk_level="chargeback_watch"))

    result = verbs.bulk_accept_recommendation(
        [routine.pk, weak.pk, owners_call.pk, chargeback.pk, 999999], support, note="Bulk", next_check_at=soon()
    )

    assert result.done == [routine.pk]
    assert dict(result.skipped) == {
        weak.pk: "evidence is weak",
        owners_call.pk: "the recommendation is the owner's call",
        chargeback.pk: "risk is chargeback watch",
        999999: "not found",
    }
    routine.refresh_from_db()
    assert routine.status == Case.Status.WAITING
    assert Decision.objects.count() == 1


def test_bulk_accept_by_the_owner_never_skips_a_case_for_being_the_owners_call(owner):
    refund_content = contract_content(recommendation={"action": "refund", "reason": "Long wait"})
    owners_call, _ = case_with_packet(refund_content)
    chargeback, _ = case_with_packet(contract_content(risk_level="chargeback_watch"))

    result = verbs.bulk_accept_recommendation([owners_call.pk, chargeback.pk], owner, note="Bulk")

    assert result.done == [owners_call.pk]
    assert dict(result.skipped) == {chargeback.pk: "risk is chargeback watch"}
    assert Decision.objects.get(case=owners_call).status == Decision.Status.APPROVED


def test_it_approves_drafts_in_bulk_rechecking_each(support, django_capture_on_commit_callbacks):
    case, _ = case_with_packet()
    clean = factories.MessageFactory(case=case, step="update_48h")
    for_owner = factories.MessageFactory(case=case, step="update_48h", needs_owner=True)
    flagged = factories.MessageFactory(case=case, step="update_48h", guideline_issues=["Says 'guaranteed'"])

    assert list(verbs.routine_drafts()) == [clean]
    with django_capture_on_commit_callbacks(execute=True):
        result = verbs.bulk_approve_messages([clean.pk, for_owner.pk, flagged.pk, clean.pk], support)

    assert result.done == [clean.pk]
    reasons = dict(result.skipped)
    assert reasons[for_owner.pk] == (
        "This message needs the owner's approval: VIP, high value or conflicting evidence: only the owner approves it"
    )
    assert "guaranteed" in reasons[flagged.pk]
    assert result.skipped[-1] == (clean.pk, "no longer a draft")
    clean.refresh_from_db()
    for_owner.refresh_from_db()
    assert clean.status == Message.Status.QUEUED and for_owner.status == Message.Status.DRAFT


# --------------------------------------------------------------------------- one decision per packet version


def test_it_refuses_a_second_decision_on_the_same_packet_naming_the_first(owner, support):
    case, packet = case_with_packet()
    first = verbs.decide(case.pk, support, action="chase_supplier", note="Emailed Northwind")

    with pytest.raises(verbs.AlreadyDecided) as refused:
        verbs.decide(case.pk, owner, action="chase_supplier", note="Chasing again", packet_version=packet.version)

    when = timezone.localtime(first.decided_at, UTC).strftime("%b %-d, %H:%M UTC")
    assert refused.value.messages == [
        f"Already decided on packet v{packet.version}: {support.get_full_name()} chose “Chase supplier” on {when} "
        "(approved). Nothing has changed since; to decide again anyway, confirm that the new decision replaces it."
    ]
    assert refused.value.earlier == first
    assert Decision.objects.filter(case=case).count() == 1


def test_it_decides_again_when_the_person_confirms_it_replaces_the_earlier_one(owner, support):
    case, _ = case_with_packet()
    proposal = verbs.decide(case.pk, support, action="refund", note="Refund in full")
    assert proposal.status == Decision.Status.PROPOSED

    again = verbs.decide(case.pk, owner, action="wait", note="Wait", next_check_at=soon(), replaces=proposal.pk)

    proposal.refresh_from_db()
    assert again.status == Decision.Status.APPROVED and proposal.status == Decision.Status.REJECTED
    assert "Replaced by a new decision: Refund" in AuditEvent.objects.get(action="decision.rejected").summary


def test_a_rejected_proposal_does_not_block_a_new_decision(owner, support):
    case, _ = case_with_packet()
    proposal = verbs.decide(case.pk, support, action="refund", note="Refund in full")
    verbs.reject_decision(proposal.pk, owner, "Not yet")
    assert verbs.decide(case.pk, owner, action="chase_supplier", note="Ask first").status == "approved"


def test_the_page_names_the_earlier_decision_and_offers_to_replace_it(owner, owner_client):
    case, packet = case_with_packet()
    first = verbs.decide(case.pk, owner, action="chase_supplier", note="Emailed Northwind")
    url = reverse("packets:case-decide", args=[case.pk])
    form = {"action": "chase_supplier", "note": "Again", "packet_version": packet.version}

    response = owner_client.post(url, form)

    assert response.status_code == 400
    page = response.content.decode()
    assert "Already decided on packet v1:" in page and "chose “Chase supplier”" in page
    assert f'name="replaces" value="{first.pk}" required' in page
    assert owner_client.post(url, {**form, "replaces": first.pk}).status_code == 302
    assert Decision.objects.filter(case=case, status="approved").count() == 2
