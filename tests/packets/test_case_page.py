"""The packet page: every section readable at a glance, and the actions on it guarded on the server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from packets import decisions as verbs
from packets.audit.timeline import collect, timeline_svg
from packets.models import AuditEvent, Case, Decision, Message, Outcome
from tests import factories
from tests.packets.packet_content import case_with_packet, contract_content, tracking_section

pytestmark = pytest.mark.django_db


def page(client, case):
    response = client.get(f"/cases/{case.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_lays_out_every_packet_section(owner_client):
    content = contract_content(tracking=tracking_section())
    case, _ = case_with_packet(content)

    body = page(owner_client, case)

    for text in [
        content["summary"],
        "Order #1042",
        "$84.20",
        "Ships in 2–4 business days",
        "Ada Adams",
        "VIP",
        "MUG-SAGE",
        "Out of stock on the sage glaze.",
        "Sorry, sage is out until the next kiln run.",
        "Northwind Ceramics",
        "1Z999AA10123456784",
        "Departed Facility",
        "No scan for 4 business days (the policy allows 3 domestic).",
        "Offer the Blue mug instead",
        "Refund the two mugs",
        "Watch at 5 free units or fewer.",
        "Asked once where the order is.",
        "The restock range rests on an estimate the supplier did not put in writing.",
        "The supplier confirmed the stockout and gave a range.",
    ]:
        assert text in body, text
    assert 'class="badge badge-confirmed"' in body
    assert 'class="badge badge-weak"' in body  # the restock estimate's strength
    assert "<svg" in body and 'class="timeline"' in body


def test_it_shows_weak_and_conflicting_evidence_as_such(owner_client):
    case, _ = case_with_packet(contract_content(evidence={"strength": "conflicting", "uncertainty": ["Two answers"]}))
    body = page(owner_client, case)
    assert "badge badge-conflicting" in body and "Two answers" in body


def test_it_draws_the_case_on_one_time_axis(owner):
    now = timezone.now()
    content = contract_content(now=now, tracking=tracking_section(now=now))
    case, packet = case_with_packet(content)
    message = factories.MessageFactory(case=case, subject="Your mug is on its way")
    decision = factories.DecisionFactory(case=case, decided_by=owner, packet=packet)
    reply = factories.InboundMessageFactory(case=case, subject="Where is it?")

    points, spans, markers = collect(content, decisions=[decision], messages=[message], inbound=[reply])

    lanes = {lane: [p.label for p in points if p.lane == lane] for lane in ["order", "supplier", "carrier"]}
    assert lanes["order"] == ["Case opened", "Order #1042 placed"]
    assert lanes["supplier"] == ["Out of stock on the sage glaze.", "Restock 'in two or three weeks', no date."]
    assert lanes["carrier"] == ["Label created", "Origin Scan · Portland, OR", "Departed Facility · Reno, NV"]
    assert {p.label for p in points if p.lane == "messages"} == {
        "Draft: Your mug is on its way",
        "Customer wrote: Where is it?",
    }
    assert [p.label for p in points if p.lane == "decisions"] == ["Chase supplier (proposed)"]
    assert [s.label for s in spans] == ["Restock estimate (weak)"]
    assert [m.label for m in markers] == ["Promised ship-by"]

    svg = timeline_svg(content, decisions=[decision], messages=[message], inbound=[reply], now=now)
    assert svg.count('class="tl-point') == len(points)
    assert "Now" in svg


def test_it_escapes_text_in_the_timeline():
    content = contract_content()
    content["supplier"]["updates"][0]["summary"] = "<script>alert(1)</script>"
    svg = timeline_svg(content, now=timezone.now())
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_it_shows_the_changes_since_the_previous_version_and_the_audit_trail(owner_client, owner):
    case, _ = case_with_packet()
    factories.PacketFactory(
        case=case,
        version=2,
        content=contract_content(),
        changes=[{"section": "supplier", "field": "silence_business_days", "before": 1, "after": 4}],
    )
    AuditEvent.record("case.opened", case=case, summary="Opened by the sweep")

    body = page(owner_client, case)

    assert "packet v2" in body
    assert "<li>Business days without word from the supplier: 1 → 4.</li>" in body
    assert "Opened by the sweep" in body and "case.opened" in body


def test_it_says_when_there_is_no_packet_yet(owner_client):
    case = factories.CaseFactory()
    assert "No packet yet" in page(owner_client, case)


def test_it_shows_drafts_in_full_with_their_guideline_flags(owner_client):
    case, _ = case_with_packet()
    body_text = "Hi Ada,\nYour mug waits on our supplier. We expect it between Dec 2 and Dec 9."
    factories.MessageFactory(case=case, body=body_text, guideline_issues=["Uses 'guaranteed'"])

    body = page(owner_client, case)

    assert "Hi Ada,<br>Your mug waits on our supplier. We expect it between Dec 2 and Dec 9." in body
    assert "Uses &#x27;guaranteed&#x27;" in body
    assert "data-approve-message" in body


def test_it_approves_a_draft_and_queues_it(owner_client, django_capture_on_commit_callbacks):
    from django_q.conf import Conf
    from django_q.models import OrmQ

    case, _ = case_with_packet()
    draft = factories.MessageFactory(case=case, step="update_48h")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/cases/messages/{draft.pk}/approve/")

    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    draft.refresh_from_db()
    assert draft.status == Message.Status.QUEUED and draft.approved_at is not None
    if Conf.ORM:  # the ORM broker (no REDIS_URL) keeps the enqueued tasks as rows: the send, the refresh
        assert OrmQ.objects.count() == 2


def test_it_shows_a_guideline_refusal_as_a_form_error(owner_client):
    case, _ = case_with_packet()
    draft = factories.MessageFactory(case=case, guideline_issues=["Over 150 words"])

    response = owner_client.post(f"/cases/messages/{draft.pk}/approve/")

    assert response.status_code == 400
    assert "breaks the store&#x27;s message guidelines: Over 150 words" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Message.Status.DRAFT


def test_it_answers_403_when_support_approves_a_draft_that_needs_the_owner(support_client):
    case, _ = case_with_packet()
    draft = factories.MessageFactory(case=case, needs_owner=True)

    assert "data-approve-message" not in page(support_client, case)
    response = support_client.post(f"/cases/messages/{draft.pk}/approve/")

    assert response.status_code == 403
    assert "needs the owner" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Message.Status.DRAFT


def test_it_decides_from_the_page(owner_client):
    case, packet = case_with_packet()
    check = (timezone.localdate() + timedelta(days=3)).isoformat()

    response = owner_client.post(
        f"/cases/{case.pk}/decide/",
        {"action": "wait", "note": "Range is known", "next_check_on": check, "packet_version": packet.version},
    )

    assert response.status_code == 302
    decision = Decision.objects.get()
    assert decision.action == "wait" and decision.status == "approved" and decision.packet == packet
    case.refresh_from_db()
    assert case.status == Case.Status.WAITING


def test_it_keeps_the_form_and_says_what_is_wrong(owner_client):
    case, packet = case_with_packet()
    factories.PacketFactory(case=case, version=2, content=contract_content())

    missing_date = owner_client.post(f"/cases/{case.pk}/decide/", {"action": "wait", "note": "x", "packet_version": 2})
    stale = owner_client.post(
        f"/cases/{case.pk}/decide/", {"action": "chase_supplier", "note": "x", "packet_version": packet.version}
    )

    assert missing_date.status_code == 400
    assert "Waiting needs the date of the next check." in missing_date.content.decode()
    assert stale.status_code == 400
    assert "The packet changed while you read it (now version 2)" in stale.content.decode()
    assert not Decision.objects.exists()


def test_support_proposes_a_refund_sees_no_approve_control_and_a_forged_approval_gets_403(
    support_client, support, owner, client
):
    case, packet = case_with_packet()
    support_client.post(
        f"/cases/{case.pk}/decide/", {"action": "refund", "note": "Refund please", "packet_version": packet.version}
    )
    proposal = Decision.objects.get()
    assert proposal.status == Decision.Status.PROPOSED

    body = page(support_client, case)
    assert "Waiting for the owner" in body and "data-approve-decision" not in body
    assert support_client.post(f"/cases/decisions/{proposal.pk}/approve/").status_code == 403
    assert support_client.post(f"/cases/decisions/{proposal.pk}/reject/").status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == Decision.Status.PROPOSED

    client.force_login(owner)
    assert "data-approve-decision" in page(client, case)
    assert client.post(f"/cases/decisions/{proposal.pk}/approve/").status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == Decision.Status.APPROVED and proposal.approved_by == owner


def test_it_shows_an_approval_that_is_no_longer_possible_as_an_error(owner_client, owner):
    case, _ = case_with_packet()
    decision = verbs.decide(case.pk, owner, action="chase_supplier", note="x")
    response = owner_client.post(f"/cases/decisions/{decision.pk}/approve/")
    assert response.status_code == 400 and "already approved" in response.content.decode()


def test_support_records_an_outcome(support_client):
    case, _ = case_with_packet()
    response = support_client.post(f"/cases/{case.pk}/outcome/", {"kind": "customer_updated", "note": "Phoned"})
    assert response.status_code == 302
    assert Outcome.objects.get().note == "Phoned"
    assert "Customer updated" in page(support_client, case)
    bad = support_client.post(f"/cases/{case.pk}/outcome/", {"kind": "nonsense"})
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()


def test_it_assigns_from_the_page(owner_client, support):
    case, _ = case_with_packet()
    assert owner_client.post(f"/cases/{case.pk}/assign/", {"assignee": support.pk}).status_code == 302
    case.refresh_from_db()
    assert case.assignee == support


def test_it_forbids_the_page_and_its_actions_to_people_without_a_role(client, outsider):
    case, _ = case_with_packet()
    draft = factories.MessageFactory(case=case)
    client.force_login(outsider)
    assert client.get(f"/cases/{case.pk}/").status_code == 403
    assert client.post(f"/cases/{case.pk}/decide/", {"action": "wait"}).status_code == 403
    assert client.post(f"/cases/{case.pk}/outcome/", {"kind": "other"}).status_code == 403
    assert client.post(f"/cases/messages/{draft.pk}/approve/").status_code == 403


def test_it_only_accepts_posts_for_actions(owner_client):
    case, _ = case_with_packet()
    assert owner_client.get(f"/cases/{case.pk}/decide/").status_code == 405


@pytest.mark.parametrize("rows", [1, 20])
def test_it_builds_the_packet_page_in_a_fixed_number_of_queries(
    owner_client, owner, support, django_assert_num_queries, rows
):
    case, packet = case_with_packet(contract_content(tracking=tracking_section()))
    for i in range(rows):
        factories.MessageFactory(case=case, guideline_issues=["Too long"] if i % 2 else [])
        factories.DecisionFactory(case=case, packet=packet, decided_by=support, note=f"proposal {i}")
        factories.InboundMessageFactory(case=case)
        Outcome.objects.create(case=case, kind="other", recorded_by=support)
        AuditEvent.record("test.event", actor=owner, case=case, summary=f"event {i}")
    # session, user, user's groups, the case with its joins, the latest packet, its policy (the
    # default check day), decisions with people and packets, messages, inbound messages,
    # outcomes with people, audit events, staff for the assign menu; the store-actions panel:
    # its actions, the proposed decisions, the policy, the order's lines, our newest message
    with django_assert_num_queries(17):
        body = page(owner_client, case)
    assert body.count("data-message-id=") == rows
    assert body.count("data-decision-id=") == rows


def test_it_reads_bare_dates_as_days_in_the_store_calendar(settings):
    from packets.audit.timeline import to_moment

    settings.STORE_TIME_ZONE = "America/New_York"
    day = to_moment("2026-11-24")
    assert day.astimezone(day.tzinfo).date().isoformat() == "2026-11-24" and day.hour == 12
    assert str(day.tzinfo) == "America/New_York"
    assert to_moment("2026-11-24T03:00:00Z").isoformat() == "2026-11-24T03:00:00+00:00"
    assert to_moment("not a date") is None and to_moment(None) is None


def test_the_packet_shows_a_channel_offering_more_than_the_desk_with_a_link_to_the_product(owner_client):
    product = factories.ProductFactory(sku="MUG-SAGE")
    content = contract_content()
    content["product"]["channel_oversell"] = {"platform": "Shopify", "channel": 6, "desk": 0}
    case, _ = case_with_packet(content, product=product)
    body = owner_client.get(f"/cases/{case.pk}/").content.decode()
    assert "Shopify offers 6 against the desk's 0: it can sell units the desk cannot ship" in body
    assert f'<a href="/products/{product.pk}/">the product page</a>' in body

    plain, _ = case_with_packet(contract_content(), product=product)
    assert "data-channel-oversell" not in owner_client.get(f"/cases/{plain.pk}/").content.decode()
