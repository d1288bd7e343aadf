"""Accepting a recommendation in one step, and the owner's routine view with "Accept all"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from packets import accept as verbs
from packets.decisions import AlreadyDecided
from packets.models import AuditEvent, Case, Decision, Message
from tests import factories
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = pytest.mark.django_db


def routine_case(**content_fields):
    """A routine stockout: confirmed evidence, recommendation to wait, a clean 48-hour update drafted."""
    case, packet = case_with_packet(contract_content(**content_fields))
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")
    return case, packet, draft


def refund_content(cost: str):
    return contract_content(
        recommendation={"action": "refund", "reason": "The wait is longer than the customer accepted."},
        options=[
            {
                "action": "refund",
                "label": "Refund the mugs",
                "cost": cost,
                "margin_impact": "0.00",
                "shipping_days_difference": None,
                "quality_risk": "none",
                "needs_customer_consent": False,
                "needs_owner": True,
                "notes": "",
            }
        ],
    )


def audit_actions(case) -> list[str]:
    return list(AuditEvent.objects.filter(case=case).order_by("id").values_list("action", flat=True))


def test_it_decides_and_approves_the_shown_draft_in_one_step_with_the_reason_as_note(
    owner, django_capture_on_commit_callbacks
):
    case, packet, draft = routine_case()

    with django_capture_on_commit_callbacks():
        decision = verbs.accept(case.pk, owner, packet_version=packet.version, message_ids=[draft.pk])

    assert decision.action == Decision.Action.WAIT and decision.status == Decision.Status.APPROVED
    assert decision.note == "The supplier confirmed the stockout and gave a range."
    assert decision.next_check_at is not None
    draft.refresh_from_db()
    assert draft.status == Message.Status.QUEUED and draft.approved_by == owner
    case.refresh_from_db()
    assert case.status == Case.Status.WAITING
    actions = audit_actions(case)
    assert {"decision.made", "decision.approved", "case.accepted"} <= set(actions)
    assert actions[-1] == "case.accepted"


def test_a_draft_that_cannot_go_leaves_no_decision_behind(owner):
    case, packet, draft = routine_case()
    Message.objects.filter(pk=draft.pk).update(body="We guarantee it ships tomorrow.")  # breaks the guidelines

    with pytest.raises(ValidationError):
        verbs.accept(case.pk, owner, packet_version=packet.version, message_ids=[draft.pk])

    assert not Decision.objects.filter(case=case).exists()
    draft.refresh_from_db()
    assert draft.status == Message.Status.DRAFT
    assert "case.accepted" not in audit_actions(case)


def test_a_second_accept_on_the_same_packet_is_refused_naming_the_first(owner):
    case, packet, draft = routine_case()
    verbs.accept(case.pk, owner, packet_version=packet.version, message_ids=[])
    Case.objects.filter(pk=case.pk).update(status=Case.Status.OPEN)  # as if someone reopened it

    with pytest.raises(AlreadyDecided, match="Olivia Owner chose “Wait”"):
        verbs.accept(case.pk, owner, packet_version=packet.version, message_ids=[draft.pk])
    draft.refresh_from_db()
    assert draft.status == Message.Status.DRAFT


def test_a_newer_packet_or_a_vanished_draft_refuses_the_accept(owner):
    case, packet, draft = routine_case()
    with pytest.raises(ValidationError, match="packet changed"):
        verbs.accept(case.pk, owner, packet_version=packet.version + 1, message_ids=[draft.pk])
    Message.objects.filter(pk=draft.pk).update(status=Message.Status.CANCELLED)
    with pytest.raises(ValidationError, match="no longer a draft"):
        verbs.accept(case.pk, owner, packet_version=packet.version, message_ids=[draft.pk])
    assert not Decision.objects.filter(case=case).exists()


def test_support_accepts_routine_cases_but_not_what_policy_keeps_for_the_owner(support, owner):
    case, packet, draft = routine_case()
    verbs.accept(case.pk, support, packet_version=packet.version, message_ids=[draft.pk])
    assert Decision.objects.get(case=case).approved_by == support

    refund, refund_packet = case_with_packet(refund_content("48.00"))
    with pytest.raises(PermissionDenied, match="only the owner can accept “Refund”"):
        verbs.accept(refund.pk, support, packet_version=refund_packet.version, message_ids=[])
    decision = verbs.accept(refund.pk, owner, packet_version=refund_packet.version, message_ids=[])
    assert decision.action == Decision.Action.REFUND and decision.amount == Decimal("48.00")
    assert decision.status == Decision.Status.APPROVED


def test_the_case_page_offers_the_accept_with_what_it_will_do(owner_client):
    case, _, draft = routine_case()
    response = owner_client.get(reverse("packets:case-detail", args=[case.pk]), {"from": "/cases/routine/"})
    html = response.content.decode()
    assert 'id="accept-dialog"' in html
    assert f'name="message_ids" value="{draft.pk}"' in html
    assert "The supplier confirmed the stockout and gave a range.</textarea>" in html
    assert 'name="from" value="/cases/routine/"' in html
    assert "None moves" in html


def test_the_case_page_shows_money_and_refuses_the_offer_to_support(owner_client, client, support):
    case, _ = case_with_packet(refund_content("178.00"))
    html = owner_client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()
    assert "$178.00 leaves the store" in html
    client.force_login(support)
    html = client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()
    assert 'id="accept-dialog"' not in html and "data-accept-refused" in html


def test_accepting_from_the_routine_view_moves_to_the_next_routine_case(owner_client):
    first, packet, draft = routine_case()
    second, _, _ = routine_case()

    response = owner_client.post(
        reverse("packets:case-accept", args=[first.pk]),
        {"packet_version": packet.version, "message_ids": [draft.pk], "from": "/cases/routine/", "note": "Fine."},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("packets:case-detail", args=[second.pk]) + "?from=%2Fcases%2Froutine%2F"
    assert Decision.objects.get(case=first).note == "Fine."


def test_accepting_from_a_foreign_origin_stays_on_the_case(owner_client):
    case, packet, _ = routine_case()
    response = owner_client.post(
        reverse("packets:case-accept", args=[case.pk]),
        {"packet_version": packet.version, "from": "https://evil.example/cases/"},
    )
    assert response["Location"] == reverse("packets:case-detail", args=[case.pk])


def test_a_refused_accept_says_why_on_the_case_page(support_client):
    case, packet = case_with_packet(refund_content("48.00"))
    response = support_client.post(
        reverse("packets:case-accept", args=[case.pk]), {"packet_version": packet.version}, follow=True
    )
    assert response.status_code == 200
    assert "only the owner can accept" in response.content.decode()
    assert not Decision.objects.filter(case=case).exists()


def test_the_routine_view_lists_only_cases_without_owner_level_risk(owner, support):
    routine, _, _ = routine_case()
    case_with_packet(contract_content(evidence={"strength": "weak", "uncertainty": ["Vague"]}))
    case_with_packet(contract_content(risk_level="chargeback_watch"))
    case_with_packet(refund_content("400.00"))  # over the money boundary
    small_refund, _ = case_with_packet(refund_content("48.00"))
    _, _, flagged_draft = routine_case()
    Message.objects.filter(pk=flagged_draft.pk).update(guideline_issues=["Says 'guaranteed'"])

    assert [a.case for a in verbs.routine_cases(owner)] == [routine, small_refund]
    assert [a.case for a in verbs.routine_cases(support)] == [routine]  # a refund is the owner's


def test_the_routine_page_pins_its_queries(owner_client, django_assert_num_queries):
    for _ in range(3):
        routine_case()
    url = reverse("packets:routine-list")
    # session, user, groups (role), policy, cases with order/customer/product, drafts, latest packets
    with django_assert_num_queries(7):
        response = owner_client.get(url)
    for _ in range(3):
        routine_case()
    with django_assert_num_queries(7):
        response = owner_client.get(url)
    assert response.status_code == 200
    assert "Accept all 6" in response.content.decode()
    assert "no money over $150.00" in response.content.decode()


def test_accept_all_takes_every_page_and_reports_by_order_number(owner_client, owner):
    cases = [routine_case() for _ in range(27)]  # more than a page of 25
    owners_call, owners_packet = case_with_packet(refund_content("48.00"))
    stale, stale_packet, stale_draft = cases[0]
    html = owner_client.get(reverse("packets:routine-list")).content.decode()
    assert html.count("data-accept-case=") == 28  # the confirmation lists every case
    assert html.count('class="accept-message"') == 27  # and every message in full

    posted = {
        "case": [f"{c.pk}:{p.version}" for c, p, _ in cases] + [f"{owners_call.pk}:{owners_packet.version}"],
        "message": [f"{c.pk}:{d.pk}" for c, _, d in cases],
    }
    factories.PacketFactory(
        case=stale,
        version=2,
        content=stale_packet.content,
        recommendation="wait",
        evidence_strength="confirmed",
        risk_level="customer_update",
    )
    response = owner_client.post(reverse("packets:routine-accept-all"), posted, follow=True)

    text = response.content.decode()
    assert "Accepted 27 cases" in text
    assert owners_call.order.number in text
    assert f"Skipped order {stale.order.number}: The packet changed while you read it" in text
    assert f"case {stale.pk}" not in text.lower()
    assert Decision.objects.filter(status=Decision.Status.APPROVED).count() == 27
    assert Decision.objects.get(case=owners_call).action == Decision.Action.REFUND
    assert Message.objects.filter(status=Message.Status.QUEUED).count() == 26
    stale_draft.refresh_from_db()
    assert stale_draft.status == Message.Status.DRAFT


def test_accept_all_is_for_staff_only(client, outsider):
    case, packet, _ = routine_case()
    client.force_login(outsider)
    response = client.post(reverse("packets:routine-accept-all"), {"case": f"{case.pk}:{packet.version}"})
    assert response.status_code == 403
    assert not Decision.objects.exists()


def replacement_content(cost: str):
    return contract_content(
        recommendation={"action": "offer_replacement", "reason": "A similar mug is in stock."},
        options=[
            {
                "action": "offer_replacement",
                "label": "Offer the blue mug",
                "cost": cost,
                "margin_impact": "0.00",
                "shipping_days_difference": -10,
                "quality_risk": "low",
                "needs_customer_consent": True,
                "needs_owner": True,
                "notes": "",
            }
        ],
    )


def test_the_confirmation_states_what_a_replacement_costs_and_a_costly_one_is_not_routine(owner, owner_client):
    cheap, _ = case_with_packet(replacement_content("9.50"))
    case_with_packet(replacement_content("40.00"))  # over the $15.00 replacement boundary

    html = owner_client.get(reverse("packets:case-detail", args=[cheap.pk])).content.decode()

    assert "It costs the store $9.50." in html
    # with no offer drafted yet, the owner is told the update does not make the offer itself
    assert "The update does not offer the replacement: accepting drafts the offer" in html
    assert [a.case for a in verbs.routine_cases(owner)] == [cheap]


def test_accepting_from_a_filtered_queue_moves_to_the_next_case_of_that_view(owner_client):
    from backorders.models import Order

    first, packet, draft = routine_case()
    urgent, _ = case_with_packet(contract_content(risk_level="chargeback_watch"))
    elsewhere, _ = case_with_packet(contract_content(risk_level="chargeback_watch"))
    Case.objects.filter(pk=elsewhere.pk).update(kind=Case.Kind.STALE_TRACKING)
    big_routine, big_packet, big_draft = routine_case()
    Order.objects.filter(pk=big_routine.order_id).update(total=Decimal("900.00"))  # ranks first by value
    Case.objects.filter(pk=big_routine.pk).copy_order_facts()  # the case's copy, as the sweep keeps it
    origin = "/cases/?kind=stockout"

    queue_page = owner_client.get(origin).content.decode()
    assert f'href="/cases/{urgent.pk}/?from=%2Fcases%2F%3Fkind%3Dstockout"' in queue_page  # rows carry their view
    response = owner_client.post(
        reverse("packets:case-accept", args=[first.pk]),
        {"packet_version": packet.version, "message_ids": [draft.pk], "from": origin},
    )
    assert response["Location"] == f"/cases/{big_routine.pk}/?from=%2Fcases%2F%3Fkind%3Dstockout"

    waiting_routine, _, _ = routine_case()
    Order.objects.filter(pk=waiting_routine.order_id).update(total=Decimal("800.00"))  # outranks the urgent one
    Case.objects.filter(pk=waiting_routine.pk).copy_order_facts()
    urgent_view = "/cases/?kind=stockout&view=urgent"  # leaves routine cases out
    response = owner_client.post(
        reverse("packets:case-accept", args=[big_routine.pk]),
        {"packet_version": big_packet.version, "message_ids": [big_draft.pk], "from": urgent_view},
    )
    assert response["Location"] == f"/cases/{urgent.pk}/?from=%2Fcases%2F%3Fkind%3Dstockout%26view%3Durgent"


def test_without_scripts_the_accept_link_opens_the_confirmation_in_the_page(owner_client):
    case, _, _ = routine_case()
    url = reverse("packets:case-detail", args=[case.pk])

    closed = owner_client.get(url).content.decode()
    opened = owner_client.get(url, {"accept": "1", "from": "/cases/routine/"}).content.decode()

    assert 'aria-labelledby="accept-title">' in closed  # the dialog is there, closed
    assert 'aria-labelledby="accept-title" open>' in opened
    assert 'href="?from=%2Fcases%2Froutine%2F&amp;accept=1#accept-dialog"' in opened
